"""Hostile cases for `edgeseg run`'s outputs and sources: an output over its input, earlier results that must be
kept, several sources that do not fit the outputs, a source that never opens, and the options of both."""

from __future__ import annotations

from typing import Any

IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
RUN = ["run", "--model", "{onnx}", "--no-show"]
CASES: list[dict[str, Any]] = []


def _add(name: str, args: list[str], expect: str, files: dict[str, str] | None = None) -> None:
    case = {"name": f"run-io/{name}", "args": [*RUN, *args], "expect": expect}
    CASES.append({**case, "files": files} if files else case)


# An output that is, or lies inside, the input: refused before anything opens, the input untouched.
CLIP = {"clip.avi": "a recording that must survive\n"}
PHOTOS = {"photos/a.jpg": "a photo that must survive\n"}
_add("save-over-the-video", ["--source", "{tmp}/clip.avi", "--save", "{tmp}/clip.avi"], "is the input", CLIP)
_add("save-over-the-folder", ["--source", "{tmp}/photos", "--save", "{tmp}/photos"], "is the input", PHOTOS)
_add("save-inside-the-folder", ["--source", "{tmp}/photos", "--save", "{tmp}/photos/out"], "lies inside", PHOTOS)
_add("stats-over-the-video", ["--source", "{tmp}/clip.avi", "--stats-json", "{tmp}/clip.avi"], "is the input", CLIP)

# Earlier results are kept unless --force.
_add("existing-video", ["--source", IMAGES, "--save", "{tmp}/out.avi"], "exists; pass another path, or --force",
     {"out.avi": "an earlier recording\n"})  # fmt: skip
_add("folder-with-files", ["--source", IMAGES, "--save", "{tmp}/out"], "already holds files",
     {"out/notes.txt": "mine\n"})  # fmt: skip

# Several sources.
_add("save-count", ["--source", IMAGES, "--source", IMAGES, "--save", "{tmp}/a.avi"], "2 sources but 1 --save paths")
_add("never-opens", ["--source", IMAGES, "--source", "rtsp://127.0.0.1:9/none", "--reconnects", "0"],
     "cannot open camera rtsp://127.0.0.1:9/none")  # fmt: skip
_add("camera-and-source", ["--camera", "0", "--source", IMAGES], "pass --camera N or --source URI")

# Options.
_add("reconnects-negative", ["--source", IMAGES, "--reconnects", "-1"], "--reconnects")
_add("batch-timeout-negative", ["--source", IMAGES, "--source", IMAGES, "--batch-timeout", "-5"], "--batch-timeout")
