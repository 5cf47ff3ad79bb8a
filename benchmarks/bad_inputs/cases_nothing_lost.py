"""Hostile-input cases: damaged artifacts and resumes that would write where they must not.

Damaged ONNX metadata (an entry that is a list, `palette: 5`, `input_size: "ab"`, `std: [0, 0, 0]`, NaN, not
UTF-8, nested without end), damaged engine sidecars, checkpoints with the format tag but no metadata or damaged
fields, training states of the wrong types, options files with number keys, other bytes or endless nesting; and
--resume with a checkpoint outside its run folder or from a run of another number of processes. Binary
artifacts are made per case from the sweep's fixtures ({onnx}, {ckpt} and the last.pt beside it) by the
functions below; every case shares the name prefix `nothing-lost-`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable

ONNX_KEY = "edgeseg.metadata"
DEEP = 100_000
Values = dict[str, str]
IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
RUN = ["--source", IMAGES, "--no-show"]


def _onnx(change: Callable[[dict], Any]) -> Callable[[Values], bytes]:
    """The fixture's model.onnx with its metadata entry replaced by `change(metadata)`: a JSON text, or bytes
    spliced into the file as they are (protobuf will not set a text field that is not UTF-8)."""

    def make(values: Values) -> bytes:
        import onnx

        proto = onnx.load(values["onnx"])
        (prop,) = [p for p in proto.metadata_props if p.key == ONNX_KEY]
        entry = change(json.loads(prop.value))
        placeholder = entry if isinstance(entry, str) else "#" * len(entry)
        prop.value = placeholder
        data = proto.SerializeToString()
        return data.replace(placeholder.encode(), entry) if isinstance(entry, bytes) else data

    return make


def _field(name: str, value: Any) -> Callable[[dict], str]:
    return lambda meta: json.dumps({**meta, name: value})


def _sidecar(text: str | bytes) -> dict[str, Any]:
    """An engine (its bytes do not matter: the sidecar is read first) and a damaged model.engine.json."""
    return {"model.engine": "serialized", "model.engine.json": text}


def _checkpoint(edit: Callable[[dict], None], which: str = "best.pt") -> Callable[[Values], bytes]:
    """The fixture's best.pt (or the last.pt beside it) with `edit` applied to its payload."""

    def make(values: Values) -> bytes:
        import torch

        payload = torch.load(Path(values["ckpt"]).with_name(which), weights_only=True)
        edit(payload)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    return make


def _set(*keys: Any, value: Any) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        node = payload
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


def _unchanged(payload: dict) -> None:
    pass


def _in_run(last: Callable[[Values], bytes]) -> dict[str, Any]:
    """A run folder of the case's own: args.yaml beside weights/last.pt."""
    return {"run/args.yaml": "epochs: 1\n", "run/weights/last.pt": last}


LAST = "{tmp}/run/weights/last.pt"
TRAIN = ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--project", "{tmp}/runs"]

CASES: list[dict] = [
    # ONNX metadata_props
    {"name": "nothing-lost-onnx-entry-a-list", "args": ["run", "--model", "{tmp}/model.onnx", *RUN],
     "files": {"model.onnx": _onnx(lambda meta: "[1, 2]")}, "expect": "entry holds a JSON array, not an object"},
    {"name": "nothing-lost-onnx-palette-5", "args": ["export", "{tmp}/model.onnx", "--out", "{tmp}/out"],
     "files": {"model.onnx": _onnx(_field("palette", 5))}, "expect": "its metadata field 'palette' must be"},
    {"name": "nothing-lost-onnx-input-size-text", "args": ["export", "{tmp}/model.onnx", "--out", "{tmp}/out"],
     "files": {"model.onnx": _onnx(_field("input_size", "ab"))}, "expect": "its metadata field 'input_size' must be"},
    {"name": "nothing-lost-onnx-std-zero", "args": ["run", "--model", "{tmp}/model.onnx", *RUN],
     "files": {"model.onnx": _onnx(_field("std", [0, 0, 0]))}, "expect": "its metadata field 'std' must be"},
    {"name": "nothing-lost-onnx-mean-nan", "args": ["run", "--model", "{tmp}/model.onnx", *RUN],
     "files": {"model.onnx": _onnx(_field("mean", [float("nan")] * 3))}, "expect": "its metadata field 'mean' must be"},
    {"name": "nothing-lost-onnx-not-utf8", "args": ["run", "--model", "{tmp}/model.onnx", *RUN],
     "files": {"model.onnx": _onnx(lambda meta: b'{"model": "\xff\xfe"}')}, "expect": "are not UTF-8 text"},
    {"name": "nothing-lost-onnx-export-not-utf8", "args": ["export", "{tmp}/model.onnx", "--out", "{tmp}/out"],
     "files": {"model.onnx": _onnx(lambda meta: b'{"model": "\xff\xfe"}')}, "expect": "entry is not UTF-8 text"},
    {"name": "nothing-lost-onnx-nested", "args": ["run", "--model", "{tmp}/model.onnx", *RUN],
     "files": {"model.onnx": _onnx(lambda meta: "[" * DEEP + "]" * DEEP)}, "expect": "nests too deeply"},
    # engine sidecars
    {"name": "nothing-lost-sidecar-a-list", "args": ["run", "--model", "{tmp}/model.engine", *RUN],
     "files": _sidecar("[]"), "expect": "model.engine.json holds a JSON array, not an object"},
    {"name": "nothing-lost-sidecar-not-utf8", "args": ["run", "--model", "{tmp}/model.engine", *RUN],
     "files": _sidecar(b'{"tensorrt": "10.3\xff"}'), "expect": "model.engine.json is not UTF-8 text"},
    {"name": "nothing-lost-sidecar-nested", "args": ["run", "--model", "{tmp}/model.engine", *RUN],
     "files": _sidecar("[" * DEEP + "]" * DEEP), "expect": "model.engine.json nests too deeply"},
    {"name": "nothing-lost-sidecar-dla-core-text", "args": ["run", "--model", "{tmp}/model.engine", *RUN],
     "files": _sidecar('{"tensorrt": "10.3.0", "dla_core": "0"}'), "expect": "its field 'dla_core' must be"},
    # checkpoints
    {"name": "nothing-lost-ckpt-tag-without-metadata", "args": ["eval", "{tmp}/best.pt", "--data", "{data}"],
     "files": {"best.pt": _checkpoint(lambda p: p.pop("metadata"))},
     "expect": "has the edgeseg format tag but no metadata"},
    {"name": "nothing-lost-ckpt-palette-5", "args": ["export", "{tmp}/best.pt", "--out", "{tmp}/out"],
     "files": {"best.pt": _checkpoint(_set("metadata", "palette", value=5))},
     "expect": "its metadata field 'palette' must be"},
    {"name": "nothing-lost-ckpt-std-zero", "args": ["run", "--model", "{tmp}/best.pt", *RUN],
     "files": {"best.pt": _checkpoint(_set("metadata", "std", value=[0.0, 0.0, 0.0]))},
     "expect": "its metadata field 'std' must be"},
    {"name": "nothing-lost-ckpt-weights-not-tensors", "args": ["eval", "{tmp}/best.pt", "--data", "{data}"],
     "files": {"best.pt": _checkpoint(_set("model", value={"a": 1}))}, "expect": "its weights are not tensors"},
    # options files (a --config, or a run's args.yaml given as one)
    {"name": "nothing-lost-yaml-number-key", "args": [*TRAIN, "--config", "{tmp}/train.yaml"],
     "files": {"train.yaml": "epochs: 2\n1: 2\n"}, "expect": "option names must be text, got 1"},
    {"name": "nothing-lost-yaml-not-utf8", "args": [*TRAIN, "--config", "{tmp}/train.yaml"],
     "files": {"train.yaml": b"epochs: 2\nname: caf\xe9\n"}, "expect": "is not UTF-8 text"},
    {"name": "nothing-lost-yaml-nested", "args": [*TRAIN, "--config", "{tmp}/train.yaml"],
     "files": {"train.yaml": "[" * DEEP + "]" * DEEP}, "expect": "nests too deeply"},
    {"name": "nothing-lost-yaml-model-kwargs-number-key", "args": [*TRAIN, "--config", "{tmp}/train.yaml"],
     "files": {"train.yaml": "model_kwargs: {1: 2, a: 3}\n"}, "expect": "model_kwargs in"},
    # resume: where, with how many processes, from what
    {"name": "nothing-lost-resume-outside-its-run", "args": ["train", "--resume", "{tmp}/last.pt"],
     "files": {"last.pt": _checkpoint(_unchanged, "last.pt")}, "expect": "is not in its run folder"},
    {"name": "nothing-lost-resume-stray-weights-folder", "args": ["train", "--resume", "{tmp}/weights/last.pt"],
     "files": {"weights/last.pt": _checkpoint(_unchanged, "last.pt")}, "expect": "is not in its run folder"},
    {"name": "nothing-lost-resume-old-checkpoint-outside", "args": ["train", "--resume", "{tmp}/last.pt"],
     "files": {"last.pt": _checkpoint(lambda p: p["train_state"].pop("run_dir"), "last.pt")},
     "expect": "copy it to <run folder>/weights/last.pt"},
    {"name": "nothing-lost-resume-two-processes", "args": ["train", "--resume", LAST],
     "files": _in_run(_checkpoint(_set("train_state", "world_size", value=2), "last.pt")),
     "expect": "was saved by a run of 2 processes"},
    {"name": "nothing-lost-resume-state-a-list", "args": ["train", "--resume", LAST],
     "files": _in_run(_checkpoint(_set("train_state", value=[1]), "last.pt")),
     "expect": "its training state is a list, not a mapping"},
    {"name": "nothing-lost-resume-epoch-text", "args": ["train", "--resume", LAST],
     "files": _in_run(_checkpoint(_set("train_state", "position", "epoch", value="x"), "last.pt")),
     "expect": "'position' field 'epoch' must be"},
    {"name": "nothing-lost-resume-config-number-key", "args": ["train", "--resume", LAST],
     "files": _in_run(_checkpoint(_set("train_state", "config", 1, value=2), "last.pt")),
     "expect": "option names must be text, got 1"},
]  # fmt: skip
