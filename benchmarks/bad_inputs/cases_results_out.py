"""Hostile results options of `edgeseg run`: --publish URLs and topics, an unreachable broker, --jsonl paths that
cannot be written or would overwrite, and options that do nothing without an output."""

from __future__ import annotations

from typing import Any

IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
RUN = ["run", "--model", "{onnx}", "--source", IMAGES, "--no-show", "--max-frames", "2"]
CASES: list[dict[str, Any]] = []


def _add(name: str, args: list[str], expect: str, files: dict[str, str] | None = None) -> None:
    CASES.append({"name": f"results-out/{name}", "args": args, "expect": expect, **({"files": files} if files else {})})


# --publish: the URL and the topic, checked before the model loads.
for name, url, expect in [
    ("scheme-http", "http://127.0.0.1/robot/seg", "takes an mqtt:// URL, got http://"),
    ("scheme-mqtts", "mqtts://127.0.0.1/robot/seg", "TLS is not supported"),
    ("not-a-url", "127.0.0.1/robot/seg", "is not a URL"),
    ("no-host", "mqtt:///robot/seg", "names no broker host"),
    ("no-topic", "mqtt://127.0.0.1", "names no topic"),
    ("empty-topic", "mqtt://127.0.0.1/", "names no topic"),
    ("wildcard-plus", "mqtt://127.0.0.1/robot/+/seg", "wildcard +"),
    ("wildcard-hash", "mqtt://127.0.0.1/robot/#", "wildcard #"),
    ("wildcard-escaped", "mqtt://127.0.0.1/robot/%23", "wildcard #"),
    ("broker-topic", "mqtt://127.0.0.1/$SYS/seg", "the broker's own"),
    ("port-empty", "mqtt://127.0.0.1:/robot/seg", "the port after 127.0.0.1: is empty"),
    ("port-zero", "mqtt://127.0.0.1:0/robot/seg", "from 1 to 65535"),
    ("port-too-large", "mqtt://127.0.0.1:65536/robot/seg", "from 1 to 65535"),
    ("port-not-a-number", "mqtt://127.0.0.1:mqtt/robot/seg", "from 1 to 65535"),
    ("empty-user", "mqtt://:secret@127.0.0.1/robot/seg", "user name before '@' is empty"),
    # Port 1 on the loopback: nothing listens there, the connection is refused at once.
    ("broker-unreachable", "mqtt://127.0.0.1:1/robot/seg", "cannot reach the MQTT broker at 127.0.0.1:1"),
]:
    _add(f"publish-{name}", [*RUN, "--publish", url], expect)
_add("publish-password-hidden", [*RUN, "--publish", "mqtt://robot:hunter2@127.0.0.1:1/t"], "robot:***@")

# Options that need --publish or a JSON output, and their values.
TARGET = ["--publish", "mqtt://127.0.0.1:1/robot/seg"]
_add("publish-every-zero", [*RUN, *TARGET, "--publish-every", "0"], "--publish-every must be a whole number ≥ 1")
_add("publish-qos-two", [*RUN, *TARGET, "--publish-qos", "2"], "--publish-qos must be 0 or 1")
_add("publish-every-alone", [*RUN, "--publish-every", "5"], "--publish-every applies to --publish")
_add("publish-qos-alone", [*RUN, "--publish-qos", "1"], "--publish-qos applies to --publish")
_add("polygons-alone", [*RUN, "--polygons"], "--polygons shapes the JSON records")
_add("confidence-alone", [*RUN, "--confidence"], "--confidence shapes the JSON records")
_add(
    "confidence-from-a-class-map",
    [*RUN, "--jsonl", "{tmp}/out.jsonl", "--confidence"],
    "edgeseg export CHECKPOINT --confidence",
)

# --jsonl paths.
_add("jsonl-read-only", [*RUN, "--jsonl", "{ro}/out.jsonl"], "cannot write --jsonl")
_add("jsonl-under-a-file", [*RUN, "--jsonl", "{file}/out.jsonl"], "is a regular file")
_add("jsonl-is-a-folder", [*RUN, "--jsonl", "{tmp}"], "it is a folder")
_add("jsonl-full-disk", [*RUN, "--jsonl", "{full}/out.jsonl"], "no space left")
_add("jsonl-exists", [*RUN, "--jsonl", "{tmp}/out.jsonl"], "--force", files={"out.jsonl": '{"earlier": 1}\n'})
_add(
    "jsonl-is-the-input",
    ["run", "--model", "{onnx}", "--source", "{tmp}/frames", "--no-show", "--jsonl", "{tmp}/frames/out.jsonl"],
    "lies inside the input",
    files={"frames/a.txt": "not an image"},
)
_add("jsonl-is-the-stats", [*RUN, "--jsonl", "{tmp}/s.json", "--stats-json", "{tmp}/s.json"], "same file")
_add("jsonl-is-the-video", [*RUN, "--jsonl", "{tmp}/o.avi", "--save", "{tmp}/o.avi"], "same file")
_add("export-confidence-logits", ["export", "{ckpt}", "--no-engine", "--confidence", "--output", "logits",
                                  "--out", "{tmp}/x"], "leave --confidence out")  # fmt: skip
_add("export-confidence-fixed-onnx", ["export", "{onnx}", "--no-engine", "--confidence", "--out", "{tmp}/x"],
     "has no confidence output")  # fmt: skip

# --save run.mcap: checked like any --save path, before the model loads.
_add("mcap-read-only", [*RUN, "--save", "{ro}/run.mcap"], "cannot write --save")
_add("mcap-under-a-file", [*RUN, "--save", "{file}/run.mcap"], "is a regular file")
_add("mcap-exists", [*RUN, "--save", "{tmp}/run.mcap"], "--force", files={"run.mcap": "an earlier recording"})
_add("mcap-full-disk", [*RUN, "--save", "{full}/run.mcap"], "no space left")

# edgeseg ros2: the model and provider first, then ROS 2 itself (rclpy, which no pip install brings).
_add("ros2-no-model", ["ros2", "--model", "{tmp}/missing.onnx"], "model not found")
_add("ros2-bad-provider", ["ros2", "--model", "{onnx}", "--provider", "gpu"], "--provider")
_add("ros2-without-ros", ["ros2", "--model", "{onnx}"], "source /opt/ros/<distro>/setup.bash")
