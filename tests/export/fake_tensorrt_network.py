"""Test double at the hardware boundary: the network TensorRT's ONNX parser fills, its layers and tensors.

Part of the fake `tensorrt` module (fake_tensorrt.py). Faithful to ILayer and INetworkDefinition as
NVIDIA/TensorRT's include/NvInfer.h (8.5, 8.6, 10.0) and python/src/infer/pyGraph.cpp declare them:
- `precision` and `set_output_type` are requests: the builder honours them only under
  BuilderFlag.OBEY_PRECISION_CONSTRAINTS, else it may choose a faster, lower precision (`chosen`);
- `set_output_type` on an INT32 output (TopK's indices, shape operations) logs an error and is ignored;
- a strongly typed network rejects `precision`.
"""

from __future__ import annotations

from typing import Any


class FakeTensor:
    def __init__(self, name: str, dtype: str = "FLOAT", shape: tuple[int, ...] = ()) -> None:
        self.name, self.dtype, self.shape = name, dtype, shape


class FakeLayer:
    """ILayer: precision and per-output types are requests the builder may ignore (see `chosen`)."""

    def __init__(self, trt: Any, name: str, kind: str, inputs: list, outputs: list) -> None:
        self.trt, self.name, self.type = trt, name, kind
        self._inputs, self._outputs = inputs, outputs
        self.num_inputs, self.num_outputs = len(inputs), len(outputs)
        self._precision: str | None = None
        self.output_types: dict[int, str] = {}

    def get_input(self, index: int) -> FakeTensor | None:
        return self._inputs[index]

    def get_output(self, index: int) -> FakeTensor:
        return self._outputs[index]

    @property
    def precision(self) -> str:
        return self._precision or "FLOAT"

    @precision.setter
    def precision(self, dtype: str) -> None:
        if self.trt.strongly_typed_flag():
            self.trt.error(f"{self.name}: setPrecision is not allowed on a strongly typed network")
            return
        self._precision = dtype

    @property
    def precision_is_set(self) -> bool:
        return self._precision is not None

    def set_output_type(self, index: int, dtype: str) -> None:
        if self._outputs[index].dtype == "INT32" and dtype != "INT32":
            self.trt.error(f"{self.name}: output {index} is INT32; setOutputType to {dtype} is ignored")
            return
        self.output_types[index] = dtype


def class_map_layers(trt: Any, images: FakeTensor) -> list[FakeLayer]:
    """What TensorRT's ONNX parser makes of a class-map export: convolutions, the classifier conv, the
    resize to the input size, ArgMax as a TopK (values FLOAT, indices INT32), the keepdims=0 squeeze as a
    shuffle and the Cast to int32 as an identity."""
    t = {"images": images, **{n: FakeTensor(n) for n in ("features", "relu", "logits", "resized", "values")}}
    t.update({n: FakeTensor(n, "INT32") for n in ("indices", "squeezed", "classes")})
    specs = [
        ("/model/backbone/Conv", "CONVOLUTION", ["images"], ["features"]),
        ("/model/backbone/Relu", "ACTIVATION", ["features"], ["relu"]),
        ("/model/classifier/Conv", "CONVOLUTION", ["relu"], ["logits"]),
        ("/model/Resize", "RESIZE", ["logits"], ["resized"]),
        ("/ArgMax", "TOPK", ["resized"], ["values", "indices"]),
        ("/ArgMax_squeeze", "SHUFFLE", ["indices"], ["squeezed"]),
        ("/Cast", "IDENTITY", ["squeezed"], ["classes"]),
    ]
    return [
        FakeLayer(trt, name, kind, [t[i] for i in inputs], [t[o] for o in outputs])
        for name, kind, inputs, outputs in specs
    ]


class FakeNetwork:
    def __init__(self, trt: Any, shape: tuple[int, ...]) -> None:
        self.num_inputs = 1
        self._input = FakeTensor("images", shape=shape)
        self.layers: list[FakeLayer] = []
        self.outputs: list[FakeTensor] = []
        self.trt = trt

    def get_input(self, index: int) -> FakeTensor:
        return self._input

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_layer(self, index: int) -> FakeLayer:
        return self.layers[index]

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_output(self, index: int) -> FakeTensor:
        return self.outputs[index]


QUANTIZABLE = {"CONVOLUTION", "ACTIVATION", "RESIZE", "ELEMENTWISE", "CONCATENATION", "POOLING"}


def chosen(layer: FakeLayer, flags: list[str]) -> tuple[str, list[str]]:
    """The precision and output types the builder picks: the requested ones under OBEY_PRECISION_CONSTRAINTS,
    else the lowest the flags allow (TensorRT may ignore a request for a faster implementation)."""
    outputs = [layer.get_output(i).dtype for i in range(layer.num_outputs)]
    if "FLOAT" not in outputs:
        return "INT32", outputs
    if "OBEY_PRECISION_CONSTRAINTS" in flags and layer.precision_is_set:
        kept = [layer.output_types.get(i, layer.precision) if d == "FLOAT" else d for i, d in enumerate(outputs)]
        return layer.precision, kept
    fastest = "INT8" if "INT8" in flags and layer.type in QUANTIZABLE else "HALF" if "FP16" in flags else "FLOAT"
    return fastest, [fastest if dtype == "FLOAT" else dtype for dtype in outputs]
