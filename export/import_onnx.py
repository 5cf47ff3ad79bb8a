"""`edgeseg import`: an ONNX segmentation model from another tool (segmentation_models_pytorch, mmsegmentation,
torchvision, PaddleSeg …) made into an edgeseg artifact, by adding edgeseg's metadata to a copy of it.

The graph is not touched: the copy differs from the file only by one metadata_props entry (docs/architecture.md,
rule 2). Before anything is written, the file is checked as the runtime will use it: one float image input N×3×H×W
(NHWC, several inputs, a size that is neither fixed nor given are refused), one output, and one run on ONNX
Runtime's CPU of a generated image, pre-processed with the given mean, std, size, resize mode and channel order,
whose output must be what --output says (N×C×H×W logits or probabilities with C the number of classes listed,
at the input's size; or an N×H×W int32 class map).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeseg import __version__
from edgeseg.errors import EdgesegError, describe, require
from edgeseg.runtime.metadata import CHANNEL_ORDERS, OUTPUT_KINDS, RESIZE_MODES, ModelMetadata

FLOAT, INT32 = 1, 6  # onnx.TensorProto element types
UNKNOWN_UPSAMPLE = "unknown"  # ModelMetadata.upsample of a model edgeseg did not build


class ForeignModelError(EdgesegError):
    """An ONNX file `edgeseg import` cannot make into an edgeseg model, with what to do about it."""


@dataclass
class ImportRequest:
    source: Path
    classes: Path  # one class name per line, in the order of the model's output channels
    out: Path
    mean: tuple[float, ...]  # per input channel, on the 0–1 scale or (recognised) the 0–255 one
    std: tuple[float, ...]
    size: tuple[int, int] | None = None  # [height, width]: needed where the graph's input size is dynamic
    resize: str = "letterbox"
    bgr: bool = False  # the network takes BGR (mean and std are then in BGR order too)
    output: str = "logits"  # logits, probs or classes
    palette: Path | None = None  # one "R,G,B" per class; default: PASCAL VOC's colours
    force: bool = False


def read_class_names(path: Path) -> list[str]:
    """One class name per line (blank lines skipped), each once."""
    if not path.is_file():
        raise ForeignModelError(f"--classes {path} not found: pass a text file with one class name per line")
    names = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if not names:
        raise ForeignModelError(f"--classes {path} lists no class names (one per line)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ForeignModelError(f"--classes {path} names {', '.join(map(repr, repeated))} more than once")
    return names


def read_palette(path: Path | None, count: int) -> list[list[int]]:
    """`count` RGB colours: one "R,G,B" (or "R G B") line per class from `path`, else PASCAL VOC's."""
    if path is None:
        from edgeseg.runtime.palette import voc_palette

        return voc_palette(max(count, 1)).tolist()[:count]
    if not path.is_file():
        raise ForeignModelError(f"--palette {path} not found: pass a text file with one R,G,B line per class")
    colours = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
            raise ForeignModelError(f"--palette {path}, line {number}: {line.strip()!r} is not R,G,B with values 0–255")
        colours.append([int(p) for p in parts])
    if len(colours) < count:
        raise ForeignModelError(f"--palette {path} has {len(colours)} colours for {count} classes; give one per class")
    return colours[:count]


def normalization(mean: tuple[float, ...], std: tuple[float, ...], log: Callable[[str], None]) -> tuple[list, list]:
    """mean and std on the 0–1 scale edgeseg stores; 0–255 values (as mmsegmentation writes them) are recognised,
    divided by 255 and said."""
    if len(mean) != 3 or len(std) != 3:
        raise ForeignModelError(f"--mean and --std take three values each (R,G,B), got {len(mean)} and {len(std)}")
    if any(s <= 0 for s in std):
        raise ForeignModelError(f"--std values must be above 0, got {','.join(f'{s:g}' for s in std)}")
    big_mean, big_std = max(mean) > 1, max(std) > 1
    if big_mean or big_std:
        if not (big_mean and big_std) and max(mean) > 0:
            raise ForeignModelError(
                f"--mean {','.join(f'{m:g}' for m in mean)} and --std {','.join(f'{s:g}' for s in std)} look like "
                f"different scales (one 0–255, one 0–1): give both on the 0–1 scale or both on the 0–255 one"
            )
        mean, std = tuple(m / 255 for m in mean), tuple(s / 255 for s in std)
        log(
            "mean and std are on the 0–255 scale (as mmsegmentation writes them): stored on edgeseg's 0–1 scale as "
            f"mean {','.join(f'{m:.4f}' for m in mean)}, std {','.join(f'{s:.4f}' for s in std)}"
        )
    return [float(m) for m in mean], [float(s) for s in std]


def _dims(value: Any) -> list[int | str | None]:
    """A graph input's or output's shape: ints for fixed axes, names (or None) for dynamic ones."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


def _shown(dims: list[Any]) -> str:
    return "×".join(str(d) if isinstance(d, int) else (d or "?") for d in dims)


def check_input(proto: Any, source: Path, size: tuple[int, int] | None) -> tuple[str, tuple[int, int]]:
    """The one image input's name and the network's input size [height, width]; or a refusal saying why."""
    initializers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    name = source.name
    if len(inputs) != 1:
        listed = ", ".join(f"{i.name} ({_shown(_dims(i))})" for i in inputs) or "none"
        raise ForeignModelError(
            f"{name} has {len(inputs)} inputs ({listed}); edgeseg feeds one image: export the model with a single "
            f"N×3×H×W image input"
        )
    value = inputs[0]
    dims, kind = _dims(value), value.type.tensor_type.elem_type
    if len(dims) != 4:
        raise ForeignModelError(f"{name}: input {value.name} is {_shown(dims)}; edgeseg feeds one N×3×H×W image")
    if dims[1] != 3:
        if dims[3] == 3:
            raise ForeignModelError(
                f"{name}: input {value.name} is {_shown(dims)}, channels last (NHWC); edgeseg feeds N×3×H×W (NCHW): "
                f"export the model with the channels first (drop the transpose in front of it)"
            )
        raise ForeignModelError(f"{name}: input {value.name} is {_shown(dims)}; edgeseg feeds 3-channel N×3×H×W images")
    if kind != FLOAT:
        raise ForeignModelError(
            f"{name}: input {value.name} must be float32 (normalized images); it is element type {kind}"
        )
    if isinstance(dims[0], int) and dims[0] > 1:
        raise ForeignModelError(f"{name}: input {value.name} has a fixed batch of {dims[0]}; export it with batch 1")
    fixed = (dims[2], dims[3]) if all(isinstance(d, int) and d > 0 for d in dims[2:]) else None
    if fixed is None and size is None:
        raise ForeignModelError(
            f"{name}: input {value.name} is {_shown(dims)}, its size is dynamic: pass --size HxW, the size the model "
            f"was trained at"
        )
    if fixed is not None and size is not None and tuple(size) != fixed:
        raise ForeignModelError(
            f"{name}: input {value.name} is fixed at {fixed[0]}x{fixed[1]}; --size {size[0]}x{size[1]} cannot change "
            f"it: leave --size out"
        )
    return value.name, tuple(size or fixed)  # type: ignore[return-value]


def check_output(output: np.ndarray, kind: str, classes: int, input_size: tuple[int, int], name: str) -> str | None:
    """Refuse an output that is not what `kind` says for `classes` classes; returns a note for the user, or None."""
    if kind in ("logits", "probs"):
        if output.ndim != 4:
            raise ForeignModelError(
                f"{name} returned {_shown(list(output.shape))} ({output.dtype}); --output {kind} needs N×C×H×W "
                f"(use --output classes for an N×H×W class map)"
            )
        if output.shape[1] != classes:
            raise ForeignModelError(f"{name} outputs {output.shape[1]} classes but --classes lists {classes}")
        if not np.isfinite(output).all():
            raise ForeignModelError(f"{name} returned NaN or infinite values on a generated image")
        sums = output.astype(np.float64).sum(axis=1)
        probabilities = bool(output.min() >= -1e-4 and np.abs(sums - 1).max() < 1e-3)
        if kind == "probs" and not probabilities:
            raise ForeignModelError(
                f"--output probs, but {name}'s output does not sum to 1 over its classes (it looks like logits: "
                f"no softmax in the graph); import it with --output logits"
            )
        if kind == "logits" and probabilities:
            return "the output sums to 1 over its classes: a softmax in the graph; --output probs records that"
    else:
        if output.ndim != 3 or output.dtype != np.int32:
            raise ForeignModelError(
                f"{name} returned {_shown(list(output.shape))} {output.dtype}; --output classes needs an N×H×W int32 "
                f"class map (TensorRT's and edgeseg's): cast the argmax to int32 in the model, or import the "
                f"scores before it with --output logits"
            )
        if output.size and (output.min() < 0 or output.max() >= classes):
            raise ForeignModelError(
                f"{name} returned class {output.max()} but --classes lists {classes} (0–{classes - 1})"
            )
    if tuple(output.shape[-2:]) != tuple(input_size):
        raise ForeignModelError(
            f"{name} returns {output.shape[-2]}x{output.shape[-1]} for a {input_size[0]}x{input_size[1]} input; "
            f"edgeseg needs the output at the input's size: keep the final upsample in the exported graph"
        )
    return None


def run_once(proto: Any, meta: ModelMetadata, source: Path) -> np.ndarray:
    """The model's output on one generated scene, pre-processed as the runtime will (ONNX Runtime, CPU)."""
    ort = require("onnxruntime", extra="export")
    from edgeseg.data.synth import synth_image
    from edgeseg.runtime.preprocess import preprocess_for

    height, width = meta.input_size
    image = synth_image(np.random.default_rng(0), height, width, max(2, min(meta.num_classes, 8)))[0]
    tensor, _ = preprocess_for(image, meta)
    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: tensor})[0]
    except Exception as exc:
        raise ForeignModelError(
            f"ONNX Runtime cannot run {source.name} on a 1×3×{height}×{width} image ({describe(exc)})"
        ) from exc


def import_onnx(request: ImportRequest, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Check `request.source`, then write it with edgeseg's metadata to `request.out`; returns what was written."""
    onnx = require("onnx", extra="export")
    from edgeseg.atomic import atomic_path
    from edgeseg.export.onnx_metadata import embed

    source, out = request.source, request.out
    if not source.is_file():
        raise ForeignModelError(f"model not found: {source}")
    if out.suffix.lower() != ".onnx":
        raise ForeignModelError(f"--out must name an .onnx file, got {out.name}")
    if out.resolve() == source.resolve():
        raise ForeignModelError(
            f"--out {out} is the model itself; write the copy somewhere else (the source stays as is)"
        )
    if out.exists() and not request.force:
        raise ForeignModelError(f"--out {out} exists; pass --force to replace it")
    for value, choices, option in (
        (request.resize, RESIZE_MODES, "--resize"),
        (request.output, OUTPUT_KINDS, "--output"),
    ):
        if value not in choices:
            raise ForeignModelError(f"{option} must be one of {', '.join(choices)}, got {value!r}")
    names = read_class_names(request.classes)
    palette = read_palette(request.palette, len(names))
    mean, std = normalization(request.mean, request.std, log)
    data = source.read_bytes()
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:
        raise ForeignModelError(f"cannot read {source} as ONNX ({describe(exc)})") from exc
    input_name, input_size = check_input(proto, source, request.size)
    from edgeseg.export.graph_checks import check_resize_nodes

    for warning in check_resize_nodes(proto, strict=False):
        log(f"warning: {warning}")
    if len(proto.graph.output) != 1:
        listed = ", ".join(o.name for o in proto.graph.output)
        raise ForeignModelError(f"{source.name} has {len(proto.graph.output)} outputs ({listed}); edgeseg reads one")
    output_name = proto.graph.output[0].name
    producer = f"{proto.producer_name} {proto.producer_version}".strip()
    meta = ModelMetadata(
        model=source.stem,
        model_config={
            "imported": source.name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "input": input_name,
            "output": output_name,
        },
        class_names=names,
        palette=palette,
        input_size=list(input_size),
        mean=mean,
        std=std,
        resize=request.resize,
        upsample=UNKNOWN_UPSAMPLE,
        versions={"edgeseg": __version__, "onnx": onnx.__version__, **({"producer": producer} if producer else {})},
        output=request.output,
        channels=CHANNEL_ORDERS[1] if request.bgr else CHANNEL_ORDERS[0],
    )
    result = run_once(proto, meta, source)
    note = check_output(result, request.output, len(names), input_size, source.name)
    if note:
        log(f"note: {note}")
    embed(proto, meta.to_dict())
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    size = f"{input_size[0]}x{input_size[1]}"
    log(
        f"wrote {out}: {source.name} with edgeseg's metadata ({len(names)} classes, input {input_name} 1×3×{size} "
        f"{'BGR' if request.bgr else 'RGB'}, {request.resize}; output {output_name} {_shown(list(result.shape))} "
        f"{request.output}); its graph is unchanged"
    )
    return {"out": str(out), "metadata": meta.to_dict(), "output_shape": list(result.shape)}
