"""The metadata every edgeseg artifact carries (docs/architecture.md, rule 2): one typed object, `ModelMetadata`.

Every backend holds it as `backend.metadata`; code reads its attributes. Dicts exist only where it is
serialized: a checkpoint's payload, an ONNX file's `metadata_props` (JSON), an engine's JSON sidecar
(`to_dict` / `from_dict` / `from_onnx_props`). The runtime needs nothing else to pre-process,
post-process and colour a model's output.

Reading one back checks every field's type and range (metadata_checks.py): a damaged or hand-edited artifact
is one line naming the field when it opens, not a traceback or a value that fails later in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeseg.errors import EdgesegError
from edgeseg.runtime.metadata_checks import (
    MetadataError,
    Rules,
    check_fields,
    is_finite,
    is_list,
    is_text,
    is_text_map,
    is_whole,
    json_kind,
    json_object,
    remedy_for,
)

# What a network returns: "classes" (N×H×W int32, the argmax in the graph), "logits" (N×C×H×W float) or "probs"
# (N×C×H×W, a softmax in the graph: ONNX files from other tools, `edgeseg import --output probs`). The runtime
# treats logits and probs alike (argmax over C); `edgeseg export` writes classes or logits (EXPORT_OUTPUTS).
OUTPUT_KINDS = ("classes", "logits", "probs")
EXPORT_OUTPUTS = ("classes", "logits")
CHANNEL_ORDERS = ("rgb", "bgr")  # the channel order the network's input takes (ModelMetadata.channels)
UPSAMPLE_MODES = ("bilinear", "transposed")  # how a decoder upsamples (ModelMetadata.upsample)
RESIZE_MODES = ("letterbox", "resize")  # how an image meets the input size (ModelMetadata.resize)
# Where model.int8.onnx's Q/DQ pairs sit (`edgeseg export --int8-placement`, recorded in its metadata's "export").
INT8_PLACEMENTS = ("tensorrt", "onnxruntime")
# The network's tensor names in every artifact edgeseg writes: its input, and its output per output kind.
INPUT_NAME = "images"
OUTPUT_NAMES = {"classes": "classes", "logits": "logits"}
# The second output of a class-map export made with `edgeseg export --confidence`: the top class's softmax
# probability per pixel (N×H×W float32), beside the class map, so an engine still returns small tensors.
CONFIDENCE_NAME = "confidence"
ONNX_KEY = "edgeseg.metadata"  # the metadata_props entry of an exported ONNX file
MAX_SIDE = 32768  # the largest input side a metadata may name (a damaged one could ask for terabytes)
MIN_STD = 1e-6  # normalization divides by std: below this the inputs overflow float32 (0: infinite)
# "unknown": the upsample of a model edgeseg did not build (`edgeseg import`, export/import_onnx.py).
READ_UPSAMPLE = (*UPSAMPLE_MODES, "unknown")


def _colour(value: Any) -> bool:
    return is_list(value, lambda c: is_whole(c, 0, 255), length=3)


def _size(value: Any) -> bool:
    return is_list(value, lambda side: is_whole(side, 1, MAX_SIDE), length=2)


def _std(value: Any) -> bool:
    return is_list(value, lambda x: is_finite(x) and x >= MIN_STD, length=3)


# Type and range of every field, checked by `from_dict` (metadata_checks.py says why).
FIELD_RULES: Rules = {
    "model": (is_text, "a non-empty text (a model name)"),
    "model_config": (is_text_map, "an object of builder arguments"),
    "class_names": (lambda v: is_list(v, is_text, least=1), "a non-empty list of class names"),
    "palette": (lambda v: is_list(v, _colour), "a list of [r, g, b] colours with each value 0–255"),
    "input_size": (_size, f"[height, width], whole numbers from 1 to {MAX_SIDE}"),
    "mean": (lambda v: is_list(v, is_finite, length=3), "3 finite numbers (one per channel)"),
    "std": (_std, f"3 numbers ≥ {MIN_STD:g} (one per channel)"),
    "resize": (lambda v: v in RESIZE_MODES, f"one of {', '.join(RESIZE_MODES)}"),
    "upsample": (lambda v: v in READ_UPSAMPLE, f"one of {', '.join(READ_UPSAMPLE)}"),
    "versions": (lambda v: is_text_map(v, lambda x: isinstance(x, str)), "an object of tool: version texts"),
    "output": (lambda v: v in OUTPUT_KINDS, f"one of {', '.join(OUTPUT_KINDS)}"),
    "channels": (lambda v: v in CHANNEL_ORDERS, f"one of {', '.join(CHANNEL_ORDERS)}"),
    "confidence": (lambda v: isinstance(v, bool), "true or false"),
}


@dataclass(frozen=True)
class ModelMetadata:
    model: str  # registry name, e.g. deeplabv3plus_mobilenetv2
    model_config: dict[str, Any]  # builder arguments: enough to rebuild the network
    class_names: list[str]
    palette: list[list[int]]  # RGB per class
    input_size: list[int]  # [height, width] of the network input
    mean: list[float]
    std: list[float]
    resize: str  # "letterbox" or "resize"
    upsample: str  # decoder upsampling: "bilinear" or "transposed"
    versions: dict[str, str] = field(default_factory=dict)  # tools that made the artifact
    # What the network returns: "logits" (N×C×H×W float) or "classes" (N×H×W int32, the argmax in the
    # graph). Artifacts made before this field existed all return logits.
    output: str = "logits"
    # The channel order the network takes: "rgb" (edgeseg's models) or "bgr" (`edgeseg import --bgr`, for models
    # trained on OpenCV's order, as mmsegmentation's `to_rgb=False`). mean and std are in this order too.
    channels: str = "rgb"
    # The network also returns the top class's probability as output CONFIDENCE_NAME (class maps only: from
    # logits the runtime computes it on the host). Artifacts made before this field existed have none.
    confidence: bool = False

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_KINDS:
            raise EdgesegError(
                f"the model's metadata names an unknown output {self.output!r} (known: {', '.join(OUTPUT_KINDS)})"
            )
        if self.channels not in CHANNEL_ORDERS:
            raise EdgesegError(
                f"the model's metadata names an unknown channel order {self.channels!r} "
                f"(known: {', '.join(CHANNEL_ORDERS)})"
            )
        if self.confidence and self.output != "classes":
            raise EdgesegError("the model's metadata names a confidence output beside logits; export it again")

    @property
    def has_confidence(self) -> bool:
        """Whether the runtime can give the top class's probability: from logits, or from the graph's own output."""
        return self.output == "logits" or self.confidence

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form every artifact stores (checkpoint payload, ONNX metadata_props, engine sidecar)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "artifact", remedy: str | None = None) -> ModelMetadata:
        """Read back what `to_dict` wrote, every field checked (MetadataError naming the first that is wrong).

        Keys this version does not know (an engine sidecar's build facts, the ONNX file's export record) are
        left out; keys older artifacts lack (`output`, `versions`, `channels`, `confidence`) default. remedy:
        what to do about a damaged one (by default chosen from the file's suffix: export again, rebuild, use
        the .pt training wrote)."""
        remedy = remedy or remedy_for(source)
        if not isinstance(data, dict):
            raise MetadataError(f"{source}: its metadata is a JSON {json_kind(data)}, not an object; {remedy}")
        required = [f for f in cls.__dataclass_fields__ if f not in ("versions", "output", "channels", "confidence")]
        missing = [name for name in required if name not in data]
        if missing:
            raise EdgesegError(
                f"{source} has no edgeseg metadata ({', '.join(missing)} missing); was it made by edgeseg?"
            )
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        check_fields(known, FIELD_RULES, f"{source}: its metadata field", remedy)
        if len(known["palette"]) < len(known["class_names"]):
            raise MetadataError(
                f"{source}: its metadata field 'palette' must be one colour per class, got "
                f"{len(known['palette'])} colours for {len(known['class_names'])} classes; {remedy}"
            )
        return cls(**known)

    @classmethod
    def from_onnx_props(cls, props: dict[str, str | bytes], source: str) -> ModelMetadata:
        """The metadata of an ONNX model from its key/value map (as ONNX Runtime or onnx reports it; onnx gives
        bytes for a value that is not UTF-8)."""
        if ONNX_KEY not in props:
            raise EdgesegError(
                f"{source} carries no edgeseg metadata (no {ONNX_KEY!r} in its metadata_props); export it with "
                f"`edgeseg export CHECKPOINT`, or add it to an ONNX file from another tool with `edgeseg import`"
            )
        remedy = remedy_for(".onnx")
        data = json_object(props[ONNX_KEY], f"{source}: its {ONNX_KEY!r} entry", remedy)
        return cls.from_dict(data, source, remedy)

    def check_outputs(self, outputs: int | None, source: str) -> None:
        """Refuse an artifact whose metadata names another number of classes than its network outputs.

        Checked where an artifact is opened (checkpoint load, every backend, export from ONNX), so no command
        colours or scores class k with the name of class j. outputs: see `output_classes`.
        """
        if outputs is not None and outputs != self.num_classes:
            raise EdgesegError(
                f"{source} lists {self.num_classes} classes in its metadata but its network outputs {outputs}; it "
                f"was edited or assembled from two models: export it again from the checkpoint `edgeseg train` wrote"
            )
        if len(self.palette) < self.num_classes:
            raise EdgesegError(f"{source} has {len(self.palette)} palette colours for {self.num_classes} classes")


def onnx_model_metadata(props: Mapping[str, str | bytes], output_shape: list[Any], source: str) -> ModelMetadata:
    """The metadata of an ONNX model as a backend opens it: read from its metadata_props (as the backend's library
    reports them) and checked against its first output's shape. Every backend of .onnx files calls this."""
    metadata = ModelMetadata.from_onnx_props(dict(props), source)
    metadata.check_outputs(output_classes(output_shape), source)
    return metadata


def output_classes(shape: list[Any]) -> int | None:
    """The class axis of a network output shape [N, C, H, W]; None where it is not a fixed number
    (a dynamic axis, or a class-index output [N, H, W] that has no class axis)."""
    if len(shape) == 4 and isinstance(shape[1], int) and shape[1] > 0:
        return shape[1]
    return None
