"""`edgeseg export` on real files: ONNX at opset 17, checker, parity, metadata, FP16/INT8, errors."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from edgeseg.export.graph_checks import GraphError, check_resize_nodes
from edgeseg.export.onnx_export import export_onnx
from edgeseg.export.steps import ExportOptions, run_export
from edgeseg.models import UPSAMPLE_MODES, list_models
from edgeseg.runtime.backends.onnxruntime import OnnxRuntimeBackend
from edgeseg.runtime.metadata import ONNX_KEY as KEY
from tests.small_metadata import small_metadata


def onnx_metadata(path: Path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props[KEY])


@pytest.mark.parametrize("upsample", UPSAMPLE_MODES)
@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_at_opset_17_with_parity(name, upsample, tiny_dataset, tiny_trainer, tmp_path):
    checkpoint = tiny_trainer(tiny_dataset, tmp_path, model=name, upsample=upsample, epochs=1)
    report = run_export(ExportOptions(checkpoint, out=tmp_path / "export", verify=tiny_dataset), log=lambda m: None)
    path = tmp_path / "export" / "model.onnx"
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    onnx.checker.check_model(proto, full_check=True)
    fp32 = report["parity"][0]
    assert fp32["argmax_agreement"] >= 0.999 and fp32["nonfinite"] == 0
    assert abs(fp32["delta_mIoU"]) < 1e-3
    meta = onnx_metadata(path)
    saved = torch.load(checkpoint, weights_only=True)["metadata"]
    assert saved["output"] == "logits" and meta["output"] == "classes"  # the argmax is in the graph by default
    saved.pop("output")
    assert {k: meta[k] for k in saved} == saved  # everything else the checkpoint carried, unchanged
    assert meta["upsample"] == upsample and meta["export"]["opset"] == 17


def test_cli_fp16_int8_and_report(run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    out = tmp_path / "out"
    result = run_edgeseg(
        "export", tiny_checkpoint, "--fp16", "--int8", "--calib", tiny_dataset, "--verify", tiny_dataset, "--out", out
    )
    assert result.returncode == 0, result.stderr
    assert "no TensorRT engine built: TensorRT is not installed" in result.stdout
    report = json.loads((out / "export_report.json").read_text())
    names = [p["name"] for p in report["parity"]]
    assert names[:3] == ["onnx fp32 vs pytorch", "onnx fp16 vs reference", "onnx int8 vs reference"]
    if importlib.util.find_spec("openvino") is None:
        assert len(names) == 3
    else:  # OpenVINO's rows: the FP32 file per precision hint, the INT8 file (a bf16 hint may run f32 here)
        assert names[3] == "openvino f32 vs reference" and names[5] == "openvino int8 vs reference"
        assert names[4] in ("openvino bf16 vs reference", "openvino bf16 (runs f32) vs reference")
        assert f"{names[3]}: argmax agreement" in result.stdout
    for entry in report["parity"]:
        assert entry["argmax_agreement"] > 0.9 and entry["delta_mIoU"] is not None
        assert set(entry["per_class_delta_IoU"]) == {"background", "circle", "rectangle", "triangle"}
    assert report["engine"]["built"] is False
    int8 = onnx.load(str(out / "model.int8.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in int8.graph.node)
    assert onnx_metadata(out / "model.int8.onnx")["export"]["precision"] == "int8"
    fp16 = onnx.load(str(out / "model.fp16.onnx"))
    assert fp16.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # I/O stay FP32
    assert any(i.data_type == TensorProto.FLOAT16 for i in fp16.graph.initializer)
    assert not list(out.glob(".*tmp")), "temporary files left behind"


def test_engine_demanded_without_tensorrt_fails(run_edgeseg, tiny_checkpoint, tmp_path):
    result = run_edgeseg("export", tiny_checkpoint, "--engine", "--out", tmp_path)
    assert result.returncode == 1
    assert "TensorRT is not installed" in result.stderr and "Traceback" not in result.stderr


def test_onnx_source_needs_no_torch(run_python_without, run_edgeseg, tiny_checkpoint, tiny_dataset, tmp_path):
    first = run_edgeseg("export", tiny_checkpoint, "--no-engine", "--out", tmp_path / "a")
    assert first.returncode == 0, first.stderr
    onnx_file = tmp_path / "a" / "model.onnx"
    code = (
        f"import sys; sys.argv = ['edgeseg', 'export', {str(onnx_file)!r}, '--int8', '--calib', "
        f"{str(tiny_dataset)!r}, '--out', {str(tmp_path / 'b')!r}]\n"
        "from edgeseg.cli import main\ntry:\n    main()\nfinally:\n"
        "    print('torch loaded:', 'torch' in sys.modules)\n"
    )
    result = run_python_without(code, blocked=("torch", "torchvision"))
    assert result.returncode == 0, result.stderr
    assert "torch loaded: False" in result.stdout
    assert "onnx int8 vs reference: argmax agreement" in result.stdout
    assert onnx_metadata(tmp_path / "b" / "model.onnx") == onnx_metadata(onnx_file)


def _write_onnx(path: Path, inputs: int = 1, resize_mode: str | None = None) -> None:
    nodes, graph_inputs = [], []
    for i in range(inputs):
        graph_inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [1, 3, 8, 8]))
    if resize_mode:
        scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
        nodes.append(
            helper.make_node(
                "Resize", ["x0", "", "scales"], ["y"], mode="linear", coordinate_transformation_mode=resize_mode
            )
        )
        initializers = [scales]
        shape = [1, 3, 16, 16]
    else:
        nodes.append(helper.make_node("Identity", ["x0"], ["y"]))
        initializers, shape = [], [1, 3, 8, 8]
    graph = helper.make_graph(
        nodes,
        "g",
        graph_inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if resize_mode:  # an edgeseg file in every other way: the Resize node is what is wrong with it
        helper.set_model_props(model, {KEY: json.dumps(small_metadata(("a", "b", "c")).to_dict())})
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.with_suffix(".pt").write_bytes(b"not a checkpoint"), "is a text file"),
        (lambda p: torch.save({"w": torch.zeros(1)}, p.with_suffix(".pt")), "is not an edgeseg checkpoint"),
        (lambda p: _write_onnx(p.with_suffix(".onnx"), inputs=2), "has 2 input(s) and 1 output(s)"),
        (lambda p: _write_onnx(p.with_suffix(".onnx")), "carries no edgeseg metadata"),
        (
            lambda p: _write_onnx(p.with_suffix(".onnx"), resize_mode="align_corners"),
            "coordinate_transformation_mode=align_corners",
        ),
        (lambda p: p.with_suffix(".onnx").write_bytes(b"junk"), "cannot read"),
    ],
    ids=["corrupt-pt", "foreign-pt", "two-inputs", "no-metadata", "align-corners", "corrupt-onnx"],
)
def test_bad_sources_fail_with_one_line(run_edgeseg, tmp_path, make, message):
    make(tmp_path / "model")
    source = next(tmp_path.glob("model.*"))
    result = run_edgeseg("export", source, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_unwritable_output_folder(run_edgeseg, tiny_checkpoint, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    result = run_edgeseg("export", tiny_checkpoint, "--out", blocker / "sub")
    assert result.returncode == 1
    assert f"cannot write --out {blocker / 'sub'}: {blocker} is a regular file" in result.stderr


def test_align_corners_model_is_refused_at_export(tmp_path):
    class Bad(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)[:, :, :8, :8]

    meta = small_metadata(("a", "b", "c"))
    with pytest.raises(GraphError, match="align_corners"):
        export_onnx(Bad(), meta, tmp_path / "bad.onnx", log=lambda m: None)
    assert not (tmp_path / "bad.onnx").exists()


def test_resize_check_tolerates_pytorch_half_pixel(tmp_path):
    _write_onnx(tmp_path / "m.onnx", resize_mode="pytorch_half_pixel")
    assert "pytorch_half_pixel" in check_resize_nodes(onnx.load(str(tmp_path / "m.onnx")))[0]


def test_opset_18_uses_the_dynamo_exporter(tiny_checkpoint, tmp_path):
    from edgeseg.train.checkpoint import model_from_checkpoint

    model, meta, _ = model_from_checkpoint(tiny_checkpoint)
    done = export_onnx(model, meta, tmp_path / "m18.onnx", opset=18, output="logits", log=lambda m: None)
    assert done["opset"] == 18 and done["exporter"] == "dynamo"
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with OnnxRuntimeBackend(tmp_path / "m18.onnx", provider="cpu") as backend, torch.no_grad():
        onnx_out = backend.infer({backend.input_names[0]: x})[backend.output_names[0]]
        np.testing.assert_allclose(onnx_out, model.eval()(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_dynamic_batch_onnx_runs_any_batch(run_edgeseg, tiny_checkpoint, tmp_path):
    flags = ["--dynamic-batch", "--max-batch", "4", "--min-agreement", "0.99", "--no-engine"]
    result = run_edgeseg("export", tiny_checkpoint, *flags, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    with OnnxRuntimeBackend(tmp_path / "model.onnx", provider="cpu") as backend:
        out = backend.infer({"images": np.zeros((3, 3, 32, 32), np.float32)})["classes"]
    assert out.shape == (3, 32, 32) and out.dtype == np.int32


def test_unfaithful_export_fails_and_is_removed(tiny_checkpoint, tmp_path, monkeypatch):
    """A broken exporter (a double that writes another network's graph) must not pass parity."""
    import edgeseg.export.onnx_export as onnx_export
    from edgeseg.export.steps import ParityFailure

    real_export = onnx_export.export_onnx

    def unfaithful_export(model, meta, path, **kwargs):
        other = copy.deepcopy(model)
        torch.manual_seed(123)
        for parameter in other.parameters():
            parameter.data.normal_(0, 0.5)
        return real_export(other, meta, path, **kwargs)

    monkeypatch.setattr(onnx_export, "export_onnx", unfaithful_export)
    with pytest.raises(ParityFailure, match="the export is not faithful, removed it"):
        run_export(ExportOptions(tiny_checkpoint, out=tmp_path, engine=False), log=lambda m: None)
    assert not (tmp_path / "model.onnx").exists()
