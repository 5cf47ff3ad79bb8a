"""Hostile-input cases: artifacts, datasets, run, explain, NaN advice, export pre-checks (issue 14, kinds 5–12).

Each case: `args` after `edgeseg`, with placeholders {tmp} (a fresh empty folder per case), {data} (a synthetic
VOC dataset), {ckpt} (a tiny trained best.pt), {onnx} (its exported model.onnx), {ro} (a read-only folder),
{file} (a regular file); `files` (path under {tmp} → text) made before the case runs; `expect`, a substring of
the one `error:` line. Kind 5 (metadata naming another class count or architecture than the weights) and a
truncated JPEG need binary files that text cannot make: tests/train/test_checkpoint_bad_inputs.py and
tests/data/test_dataset_bad_inputs.py cover them.
"""

from __future__ import annotations

TEXT_PT = {"model.pt": "epochs: 3\nlr: 0.1\n"}
IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
TRAIN_SMALL = ["--model", "deeplabv3plus_mobilenetv2", "--size", "32", "--batch-size", "4", "--workers", "0"]


def _dataset(classes: str, train: str = "a\n", val: str | None = "a\n") -> dict[str, str]:
    """A dataset's text files only (lists and classes.txt): enough for every check that runs before images load."""
    files = {"d/ImageSets/Segmentation/train.txt": train, "d/classes.txt": classes}
    if val is not None:
        files["d/ImageSets/Segmentation/val.txt"] = val
    return files


CASES: list[dict] = [
    # 6. files that are not checkpoints: say what the file is not, never "weights_only=False"
    {"name": "eval-text-as-checkpoint", "args": ["eval", "{tmp}/model.pt", "--data", "{data}"],
     "files": TEXT_PT, "expect": "is a text file"},
    {"name": "export-text-as-checkpoint", "args": ["export", "{tmp}/model.pt", "--out", "{tmp}/out"],
     "files": TEXT_PT, "expect": "is a text file"},
    {"name": "run-text-as-checkpoint", "args": ["run", "--model", "{tmp}/model.pt", "--source", IMAGES, "--no-show"],
     "files": TEXT_PT, "expect": "is a text file"},
    {"name": "explain-text-as-checkpoint",
     "args": ["explain", "{tmp}/model.pt", IMAGES, "--class", "background", "--out", "{tmp}/out"],
     "files": TEXT_PT, "expect": "is a text file"},
    {"name": "train-resume-text", "args": ["train", "--resume", "{tmp}/model.pt"],
     "files": TEXT_PT, "expect": "is a text file"},
    {"name": "explain-onnx-as-checkpoint",
     "args": ["explain", "{onnx}", IMAGES, "--class", "background", "--out", "{tmp}/out"],
     "expect": "is an ONNX model, not a checkpoint"},
    {"name": "train-resume-onnx", "args": ["train", "--resume", "{onnx}"], "expect": "is an ONNX model"},
    # 7. datasets
    {"name": "check-duplicate-class-names", "args": ["data", "check", "{tmp}/d"],
     "files": _dataset("background\ncircle\ncircle\n"), "expect": "names 'circle' more than once"},
    {"name": "train-duplicate-class-names", "args": ["train", *TRAIN_SMALL, "--data", "{tmp}/d", "--project", "{tmp}"],
     "files": _dataset("background\ncircle\ncircle\n"), "expect": "names 'circle' more than once"},
    {"name": "check-id-with-a-space", "args": ["data", "check", "{tmp}/d"],
     "files": _dataset("bg\nx\n", train="my image\n"), "expect": "was split at a space into the id 'my'"},
    {"name": "train-id-with-a-space", "args": ["train", *TRAIN_SMALL, "--data", "{tmp}/d", "--project", "{tmp}"],
     "files": _dataset("bg\nx\n", train="my image\n"), "expect": "was split at a space into the id 'my'"},
    # 8. data synth onto a user's dataset
    {"name": "synth-onto-a-dataset", "args": ["data", "synth", "{data}", "--images", "4"],
     "expect": "is not empty: data synth would replace"},
    {"name": "synth-onto-a-non-empty-folder", "args": ["data", "synth", "{tmp}/mine", "--images", "4"],
     "files": {"mine/notes.txt": "mine\n"}, "expect": "is not empty"},
    # 9. run --save suffixes OpenCV cannot write; data video shares the list
    {"name": "run-save-webm",
     "args": ["run", "--model", "{onnx}", "--source", IMAGES, "--no-show", "--save", "{tmp}/out.webm"],
     "expect": "cannot write .webm"},
    {"name": "run-save-gif",
     "args": ["run", "--model", "{onnx}", "--source", IMAGES, "--no-show", "--save", "{tmp}/out.gif"],
     "expect": "cannot write .gif"},
    {"name": "data-video-webm", "args": ["data", "video", "{tmp}/clip.webm"], "expect": "cannot write .webm"},
    {"name": "data-video-no-suffix", "args": ["data", "video", "{tmp}/clip"],
     "expect": "cannot write a video without a suffix"},
    # 10. explain on a folder whose images cannot be read
    {"name": "explain-folder-of-unreadable-files",
     "args": ["explain", "{ckpt}", "{tmp}/images", "--class", "background", "--out", "{tmp}/out"],
     "files": {"images/broken.jpg": "not an image\n"}, "expect": "could be read; skipped 1 unreadable file(s)"},
    # 11. a diverging run: advice that works (no last.pt exists yet)
    {"name": "train-lr-1e30",
     "args": ["train", *TRAIN_SMALL, "--data", "{data}", "--project", "{tmp}", "--lr", "1e30",
              "--warmup-epochs", "0", "--epochs", "1"],
     "expect": "no epoch finished, so start again with a lower --lr"},
    # 12. export: checked before model.onnx is written
    {"name": "export-int8-calib-missing",
     "args": ["export", "{ckpt}", "--int8", "--calib", "{tmp}/missing", "--out", "{tmp}/out"],
     "expect": "is not a folder of images or a VOC-format dataset"},
    {"name": "export-verify-missing", "args": ["export", "{ckpt}", "--verify", "{tmp}/missing", "--out", "{tmp}/out"],
     "expect": "not found: pass a VOC-format dataset"},
    {"name": "export-verify-other-classes",
     "args": ["export", "{ckpt}", "--verify", "{tmp}/d", "--out", "{tmp}/out"],
     "files": _dataset("sky\nroad\n"), "expect": "has 2 classes (sky, road), the model"},
    {"name": "export-onnx-verify-other-classes",
     "args": ["export", "{onnx}", "--verify", "{tmp}/d", "--out", "{tmp}/out"],
     "files": _dataset("sky\nroad\n"), "expect": "has 2 classes (sky, road), the model"},
    # Where TensorRT is installed this case builds an engine instead: the sweep runs it where TensorRT is not.
    {"name": "export-engine-without-tensorrt", "args": ["export", "{ckpt}", "--engine", "--out", "{tmp}/out"],
     "expect": "TensorRT is not installed"},
]  # fmt: skip
