"""Damaged metadata in an ONNX file or an engine sidecar: one line naming the field when the artifact opens.

Through the real readers (ModelMetadata, a real ONNX Runtime session, the sidecar reader, the TensorRT backend
with its faithful double at the hardware boundary) and through the real `edgeseg` command for a few. Before,
these were tracebacks, or values accepted that failed later in a worker thread (std 0: infinite inputs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeseg.errors import EdgesegError
from edgeseg.runtime.engine_sidecar import read_sidecar
from edgeseg.runtime.metadata import ONNX_KEY, ModelMetadata
from tests.bad_input import assert_refused, snapshot
from tests.export.tiny_onnx import write_images, write_tiny_onnx
from tests.small_metadata import small_metadata

GOOD = small_metadata(("background", "square", "disc")).to_dict()
DEEP = 100_000  # deeper than any JSON parser in Python recurses

# (field, damaged value): each refused with a line naming the field.
DAMAGED_FIELDS = [
    ("palette", 5),
    ("palette", [[0, 0, 0], [0, 0, 300], [1, 1, 1]]),
    ("palette", [[0, 0, 0], [1, 1, 1]]),  # fewer colours than classes
    ("input_size", "ab"),
    ("input_size", [0, 32]),
    ("input_size", [32.5, 32]),
    ("input_size", [True, 32]),
    ("std", [0, 0, 0]),
    ("std", [0.2, 0.2]),
    ("mean", [float("nan"), 0.4, 0.4]),
    ("mean", [float("inf"), 0.4, 0.4]),
    ("class_names", []),
    ("class_names", ["a", 2, "c"]),
    ("class_names", [[[["nested"]]], "b", "c"]),
    ("model_config", [1]),
    ("model", ""),
    ("resize", "stretch"),
    ("upsample", None),
    ("versions", "1.0"),
    ("output", 7),
    ("channels", "rgba"),
    ("confidence", "yes"),
]


@pytest.mark.parametrize(("field", "value"), DAMAGED_FIELDS, ids=[f"{f}={v!r}"[:40] for f, v in DAMAGED_FIELDS])
def test_every_field_is_checked_when_read(field, value):
    with pytest.raises(EdgesegError) as caught:
        ModelMetadata.from_dict({**GOOD, field: value}, "model.onnx")
    message = str(caught.value)
    assert message.startswith(f"model.onnx: its metadata field '{field}' must be"), message
    assert "\n" not in message and len(message) < 300, message


def test_the_metadata_itself_must_be_an_object():
    with pytest.raises(EdgesegError, match=r"model\.onnx: its metadata is a JSON array, not an object"):
        ModelMetadata.from_dict([GOOD], "model.onnx")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("[1, 2]", "entry holds a JSON array, not an object"),
        ("5", "entry holds a JSON number, not an object"),
        ("[" * DEEP + "]" * DEEP, "nests too deeply"),
        ('{"a": ' * DEEP + "1" + "}" * DEEP, "nests too deeply"),
        (json.dumps({**GOOD, "std": [float("nan")] * 3}), "field 'std' must be"),
        ("{not json", "entry is not valid JSON"),
        (b'{"model": "\xff\xfe"}', "entry is not UTF-8 text"),
    ],
    ids=["list", "number", "deep-list", "deep-object", "nan", "not-json", "not-utf8"],
)
def test_damaged_onnx_entries(entry, message):
    with pytest.raises(EdgesegError, match=message):
        ModelMetadata.from_onnx_props({ONNX_KEY: entry}, "model.onnx")


def _damaged_onnx(folder: Path, entry: str | bytes) -> Path:
    """The tiny ONNX graph with its metadata entry replaced by `entry` (bytes: spliced into the file as they
    are, since protobuf refuses to set a text field that is not UTF-8)."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    path = write_tiny_onnx(folder / "model.onnx")
    proto = onnx.load(str(path))
    (prop,) = [p for p in proto.metadata_props if p.key == ONNX_KEY]
    text = entry if isinstance(entry, str) else "#" * len(entry)
    prop.value = text
    data = proto.SerializeToString()
    if isinstance(entry, bytes):  # same length: the field's length prefix stays right
        data = data.replace(text.encode(), entry)
    path.write_bytes(data)
    return path


DAMAGED_ONNX = {
    "std-zero": (json.dumps({**GOOD, "std": [0, 0, 0]}), "its metadata field 'std' must be"),
    "palette-5": (json.dumps({**GOOD, "palette": 5}), "its metadata field 'palette' must be"),
    "list": ("[1, 2]", "entry holds a JSON array, not an object"),
    "not-utf8": (b'{"model": "\xff\xfe"}', "not UTF-8 text"),
}


@pytest.mark.parametrize("kind", DAMAGED_ONNX)
def test_onnx_runtime_refuses_damaged_metadata(tmp_path, kind):
    from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend

    entry, message = DAMAGED_ONNX[kind]
    with pytest.raises(EdgesegError, match=message):
        OnnxRuntimeBackend(_damaged_onnx(tmp_path, entry))


@pytest.mark.parametrize("kind", ["std-zero", "not-utf8", "list"])
def test_edgeseg_run_on_damaged_onnx_is_one_line(run_edgeseg, tmp_path, kind):
    entry, message = DAMAGED_ONNX[kind]
    model = _damaged_onnx(tmp_path / "model", entry)
    frames = write_images(tmp_path / "frames", count=1)
    before = snapshot(tmp_path)
    result = run_edgeseg("run", "--model", model, "--source", frames, "--no-show", "--save", tmp_path / "out")
    assert_refused(result, message, before, tmp_path)


@pytest.mark.parametrize("kind", ["palette-5", "not-utf8"])
def test_edgeseg_export_of_damaged_onnx_is_one_line(run_edgeseg, tmp_path, kind):
    entry, message = DAMAGED_ONNX[kind]
    model = _damaged_onnx(tmp_path / "model", entry)
    before = snapshot(tmp_path)
    result = run_edgeseg("export", model, "--out", tmp_path / "out")
    assert_refused(result, message, before, tmp_path)


def _engine(folder: Path, sidecar: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.engine").write_bytes(b"serialized")
    data = sidecar.encode() if isinstance(sidecar, str) else sidecar
    (folder / "model.engine.json").write_bytes(data)
    return folder / "model.engine"


BUILD = {"tensorrt": "10.3.0", "gpu": "Fake Orin", "compute_capability": "8.7", "onnx": "model.onnx"}
DAMAGED_SIDECARS = {
    "list": ("[]", "model.engine.json holds a JSON array, not an object"),
    "not-utf8": (b'{"tensorrt": "10.3\xff"}', "model.engine.json is not UTF-8 text"),
    "deep": ("[" * DEEP + "]" * DEEP, "model.engine.json nests too deeply"),
    "tensorrt-number": (json.dumps({**GOOD, **BUILD, "tensorrt": 10.3}), "its field 'tensorrt' must be"),
    "dla-core-text": (json.dumps({**GOOD, **BUILD, "dla_core": "0"}), "its field 'dla_core' must be"),
}


@pytest.mark.parametrize("kind", DAMAGED_SIDECARS)
def test_damaged_sidecars_are_one_line(tmp_path, kind):
    sidecar, message = DAMAGED_SIDECARS[kind]
    with pytest.raises(EdgesegError, match=message) as caught:
        read_sidecar(_engine(tmp_path, sidecar))
    assert "\n" not in str(caught.value) and "rebuild" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"), [("palette", 5), ("input_size", "ab"), ("std", [0, 0, 0]), ("mean", [float("nan")] * 3)]
)
def test_the_tensorrt_backend_checks_the_sidecars_metadata(tmp_path, field, value):
    from edgeseg.runtime.backends.tensorrt import TensorRTBackend
    from tests.export.fake_tensorrt import FakeCuda, FakeTensorRT

    engine = _engine(tmp_path, json.dumps({**GOOD, **BUILD, field: value}))
    cuda = FakeCuda()
    with pytest.raises(EdgesegError, match=f"its metadata field '{field}' must be"):
        TensorRTBackend(engine, trt=FakeTensorRT("10.3.0", cuda=cuda), cuda=cuda, log=lambda m: None)


@pytest.mark.parametrize("kind", ["list", "not-utf8", "dla-core-text"])
def test_edgeseg_run_on_a_damaged_sidecar_is_one_line(run_edgeseg, tmp_path, kind):
    """Read before TensorRT is looked for: the line is the sidecar's, here where TensorRT is not installed too."""
    sidecar, message = DAMAGED_SIDECARS[kind]
    engine = _engine(tmp_path / "model", sidecar)
    frames = write_images(tmp_path / "frames", count=1)
    before = snapshot(tmp_path)
    result = run_edgeseg("run", "--model", engine, "--source", frames, "--no-show")
    assert_refused(result, message, before, tmp_path)
