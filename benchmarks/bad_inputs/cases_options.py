"""Hostile cases of four kinds, over every command: output paths that cannot be written, option values
out of type or range, YAML configs with wrong types, and a full disk."""

from __future__ import annotations

from typing import Any

IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
CASES: list[dict[str, Any]] = []


def _add(kind: str, name: str, args: list[str], expect: str, files: dict[str, str] | None = None) -> None:
    CASES.append({"name": f"{kind}/{name}", "args": args, "expect": expect, **({"files": files} if files else {})})


# 1. Output paths that cannot be written: a read-only folder ({ro}), a path under a regular file ({file}).
TRAIN = ["train", "--model", "deeplabv3plus_mobilenetv2", "--data", "{data}", "--size", "32", "--epochs", "1"]
EVAL = ["eval", "{ckpt}", "--data", "{data}"]
EXPLAIN = ["explain", "{ckpt}", IMAGES, "--class", "circle"]
RUN = ["run", "--model", "{onnx}", "--source", IMAGES, "--no-show", "--max-frames", "2"]
EXPORT = ["export", "{ckpt}", "--no-engine"]
BENCH = ["bench", "--models", "unet_classic", "--backends", "ort", "--sizes", "32", "--runs", "1", "--e2e-frames", "0"]
WRITERS = {
    "train": (TRAIN, "--project", "folder"),
    "eval-json": (EVAL, "--json", "m.json"),
    "eval-plot": (EVAL, "--plot", "m.png"),
    "explain": (EXPLAIN, "--out", "folder"),
    "run-save-video": (RUN, "--save", "out.mp4"),
    "run-save-folder": (RUN, "--save", "frames"),
    "run-stats-json": (RUN, "--stats-json", "stats.json"),
    "bench": (BENCH, "--out", "folder"),
    "export": (EXPORT, "--out", "folder"),
    "quickstart": (["quickstart", "--epochs", "1", "--images", "10", "--size", "32"], "--out", "folder"),
}
for command, (base, option, target) in WRITERS.items():
    leaf = "out" if target == "folder" else target
    _add("1-unwritable", f"{command}-read-only", [*base, option, f"{{ro}}/{leaf}"], f"cannot write {option}")
    _add("1-unwritable", f"{command}-under-a-file", [*base, option, f"{{file}}/{leaf}"], "is a regular file")
    if target == "folder":
        _add("1-unwritable", f"{command}-is-a-file", [*base, option, "{file}"], "not a folder")
for name, target in (("data-synth", "ds"), ("data-video", "v.mp4"), ("data-video-avi", "v.avi")):
    command = ["data", name.split("-")[1]]
    _add("1-unwritable", f"{name}-read-only", [*command, f"{{ro}}/{target}"], "cannot write OUT")
    _add("1-unwritable", f"{name}-under-a-file", [*command, f"{{file}}/{target}"], "is a regular file")
_add("1-unwritable", "data-synth-is-a-file", ["data", "synth", "{file}"], "not a folder")
_add("1-unwritable", "run-save-video-no-codec-blame", [*RUN, "--save", "{ro}/out.avi"], "cannot write --save")

# 2. Option values: wrong type, out of range, not one of the choices; each names its option.
OPTIONS = [
    ("train", TRAIN, "--upsample", "magic", "--upsample must be one of"),
    ("train", TRAIN, "--output-stride", "7", "--output-stride must be one of 8, 16"),
    ("train", TRAIN, "--class-weights", "1,2", "--class-weights has 2 values"),
    ("train", TRAIN, "--class-weights", "1,-2,3", "--class-weights must be a list of numbers ≥ 0"),
    ("train", TRAIN, "--class-weights", "1,a,3", "--class-weights must be a list of numbers"),
    ("train", TRAIN, "--class-weights", "0,0,0", "--class-weights must not all be zero"),
    ("train", TRAIN, "--workers", "-1", "--workers must be a whole number ≥ 0"),
    ("train", TRAIN, "--weight-decay", "-1", "--weight-decay must be a number ≥ 0"),
    ("train", TRAIN, "--cache-gb", "-1", "--cache-gb must be a number ≥ 0"),
    ("train", TRAIN, "--warmup-epochs", "-1", "--warmup-epochs must be a number ≥ 0"),
    ("train", TRAIN, "--batch-size", "1", "--batch-size must be a whole number ≥ 2"),
    ("train", TRAIN, "--freeze-batch-size", "0", "--freeze-batch-size must be a whole number ≥ 2"),
    ("train", TRAIN, "--epochs", "0", "--epochs must be a whole number ≥ 1"),
    ("train", TRAIN, "--epochs", "two", "'--epochs'"),
    ("train", TRAIN, "--freeze-epochs", "5", "--freeze-epochs (5) must not exceed --epochs (1)"),
    ("train", TRAIN, "--lr", "0", "--lr must be a number > 0"),
    ("train", TRAIN, "--lr", "nan", "--lr must be a number > 0"),
    ("train", TRAIN, "--freeze-lr", "-1e-3", "--freeze-lr must be a number > 0"),
    ("train", TRAIN, "--step-gamma", "0", "--step-gamma must be a number > 0"),
    ("train", TRAIN, "--size", "7", "--size must be S, HxW or [height, width] with each side ≥ 16"),
    ("train", TRAIN, "--size", "64x", "--size must be S, HxW"),
    ("train", TRAIN, "--optimizer", "adamax", "--optimizer must be one of adam, adamw, sgd"),
    ("train", TRAIN, "--scheduler", "linear", "--scheduler must be one of"),
    ("train", TRAIN, "--resize", "crop", "--resize must be one of letterbox, resize"),
    ("train", TRAIN, "--loss", "l2", "--loss"),
    ("train", TRAIN, "--device", "tpu", "--device must be auto, cpu or cuda"),
    ("train", TRAIN, "--seed", "-1", "--seed must be a whole number ≥ 0"),
    ("train", TRAIN, "--model", "resnet9000", "unknown model 'resnet9000'"),
    ("eval", EVAL, "--batch-size", "0", "--batch-size must be a whole number ≥ 1"),
    ("eval", EVAL, "--workers", "-1", "--workers must be a whole number ≥ 0"),
    ("eval", EVAL, "--subset", "0", "--subset must be a whole number ≥ 1"),
    ("export", EXPORT, "--size", "7", "--size must be S, HxW or [height, width] with each side ≥ 16"),
    ("export", [*EXPORT, "--dynamic-batch"], "--max-batch", "0", "--max-batch must be a whole number ≥ 1"),
    ("export", EXPORT, "--opset", "5", "--opset must be a whole number ≥ 11 and ≤ 23"),
    ("export", EXPORT, "--opset", "99", "--opset must be a whole number ≥ 11 and ≤ 23"),
    ("export", EXPORT, "--calib-images", "0", "--calib-images must be a whole number ≥ 1"),
    ("export", EXPORT, "--verify-images", "0", "--verify-images must be a whole number ≥ 1"),
    ("export", EXPORT, "--min-agreement", "0", "--min-agreement must be a number > 0 and ≤ 1"),
    ("export", EXPORT, "--workspace", "-1", "--workspace must be a number > 0"),
    ("export", EXPORT, "--dla-core", "-1", "--dla-core must be a whole number ≥ 0"),
    ("export", EXPORT, "--int8-placement", "cpu", "--int8-placement must be one of tensorrt, onnxruntime"),
    ("run", RUN, "--alpha", "2", "--alpha must be a number ≥ 0 and ≤ 1"),
    ("run", RUN, "--view", "heatmap", "--view must be one of overlay, mask, side"),
    ("run", RUN, "--provider", "gpu", "--provider must be one of tensorrt, cuda, cpu"),
    ("run", RUN, "--threads", "0", "--threads must be a whole number ≥ 1"),
    ("run", RUN, "--max-frames", "-3", "--max-frames must be a whole number ≥ 1"),
    ("explain", EXPLAIN, "--method", "saliency", "--method must be one of"),
    ("bench", BENCH, "--batch", "0", "--batch must be a whole number ≥ 1"),
    ("bench", BENCH, "--sizes", "7", "--sizes must be a list of whole numbers ≥ 32"),
    ("bench", BENCH, "--runs", "0", "--runs must be a whole number ≥ 1"),
    ("bench", BENCH, "--warmup", "-1", "--warmup must be a whole number ≥ 0"),
    ("bench", BENCH, "--threads", "0", "--threads must be a whole number ≥ 1"),
    ("bench", BENCH, "--classes", "1", "--classes must be a whole number ≥ 2"),
    ("bench", BENCH, "--upsample", "magic", "--upsample must be made of bilinear, transposed only"),
    ("bench", BENCH, "--backends", "tensorflow", "--backends must be made of"),
    ("bench", BENCH, "--tolerance", "-1", "'--tolerance'"),
    ("data synth", ["data", "synth", "{tmp}/ds"], "--images", "1", "--images must be a whole number ≥ 2"),
    ("data synth", ["data", "synth", "{tmp}/ds"], "--size", "8", "--size must be a whole number ≥ 16"),
    ("data synth", ["data", "synth", "{tmp}/ds"], "--classes", "300", "--classes must be a whole number ≥ 2 and ≤ 255"),
    ("data synth", ["data", "synth", "{tmp}/ds"], "--seed", "-1", "--seed must be a whole number ≥ 0"),
    ("data synth", ["data", "synth", "{tmp}/ds"], "--cue", "smell", "--cue must be one of"),
    ("data video", ["data", "video", "{tmp}/v.mp4"], "--frames", "0", "--frames must be a whole number ≥ 1"),
    ("data video", ["data", "video", "{tmp}/v.mp4"], "--width", "8", "--width must be a whole number ≥ 16"),
    ("data video", ["data", "video", "{tmp}/v.mp4"], "--classes", "1", "--classes must be a whole number ≥ 2"),
    ("quickstart", ["quickstart"], "--epochs", "0", "--epochs must be a whole number ≥ 1"),
    ("quickstart", ["quickstart"], "--size", "8", "--size must be a whole number ≥ 32"),
    ("models", ["models"], "--size", "0", "--size must be S, HxW"),
]
for command, base, option, value, expect in OPTIONS:
    _add("2-option", f"{command.replace(' ', '-')}{option}={value}", [*base, option, value], expect)

# 3. YAML configs: the same schema as the command line, naming the field and the file.
TRAIN_YAML = "model: deeplabv3plus_mobilenetv2\ndata: {data}\nepochs: 1\nsize: 32\n"
for name, line, expect in (
    ("size-text", 'size: "abc"', "size in {tmp}/c.yaml must be S, HxW or [height, width]"),
    ("size-three", "size: [64, 64, 3]", "size in"),
    ("epochs-two", 'epochs: "two"', "epochs in"),
    ("lr-fast", 'lr: "fast"', "lr in"),
    ("batch-size-fraction", "batch_size: 2.7", "batch_size in"),
    ("batch-size-one", "batch_size: 1", "batch_size in"),
    ("class-weights-letter", 'class_weights: [1, "a", 3]', "class_weights in"),
    ("amp-maybe", "amp: maybe", "amp in"),
    ("output-stride", "model_kwargs: {output_stride: 7}", "output_stride in"),
    ("unknown-field", "batchsize: 4", "unknown option(s) batchsize"),
    ("upsample", "upsample: magic", "upsample in"),
    ("workers-list", "workers: [1, 2]", "workers in"),
):
    yaml = "\n".join(f for f in TRAIN_YAML.splitlines() if f.split(":")[0] != line.split(":")[0]) + f"\n{line}\n"
    _add("3-yaml", f"train-{name}", ["train", "--config", "{tmp}/c.yaml"], expect, {"c.yaml": yaml})
_add("3-yaml", "train-not-a-mapping", ["train", "--config", "{tmp}/c.yaml"], "mapping", {"c.yaml": "- 1\n- 2\n"})
_add("3-yaml", "train-invalid", ["train", "--config", "{tmp}/c.yaml"], "is not valid YAML", {"c.yaml": "a: [1\n"})
_add("3-yaml", "train-missing", ["train", "--config", "{tmp}/none.yaml"], "config file not found")
for name, line, expect in (
    ("runs-five", 'runs: "five"', "runs in {tmp}/b.yaml must be a whole number"),
    ("sizes-small", "sizes: [7]", "sizes in"),
    ("backends-unknown", "backends: [tensorflow]", "backends in"),
    ("batch-fraction", "batch: 2.5", "batch in"),
    ("unknown-field", "model: unet_classic", "unknown option(s) in {tmp}/b.yaml: model"),
):
    _add("3-yaml", f"bench-{name}", ["bench", "--config", "{tmp}/b.yaml"], expect, {"b.yaml": line + "\n"})

# 4. A full disk: refused before the work, naming "no space left on device".
for command, (base, option, target) in WRITERS.items():
    if command in ("train", "eval-json", "run-save-video", "bench", "export", "explain"):
        leaf = "out" if target == "folder" else target
        _add("4-full-disk", command, [*base, option, f"{{full}}/{leaf}"], "no space left on device")
_add("4-full-disk", "data-synth", ["data", "synth", "{full}/ds"], "no space left on device")
_add("4-full-disk", "data-video", ["data", "video", "{full}/v.avi"], "no space left on device")
