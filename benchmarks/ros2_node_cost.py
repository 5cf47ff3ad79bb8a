"""What the ROS 2 node's conversions cost beside inference: `edgeseg ros2`'s own code, minus rclpy's transport.

    nice -n 5 python benchmarks/ros2_node_cost.py [--frames 60] [--rounds 5] [--size 256] [--classes 21]
        [--result ros2_node_cost]

rclpy is not installable here, so the node (`runtime/ros2_node.py`, the code `edgeseg ros2` runs) is driven through
a port made of the real ROS 2 message classes of `rosbags` (Humble's sensor_msgs/Image and CameraInfo). Each
published message is serialized to CDR (what rclpy does before DDS takes it; rosbags' serializer stands in for
rclpy's C one) and dropped. A 640×480 bgr8 camera image with a camera_info goes through `SegmentationNode.process`
(message → image, inference, mask) with no output subscribed (the baseline: what inference alone needs) and with
each output subscribed, then all of them; the cost is the median over interleaved rounds of the extra CPU time
per image over the baseline of the same round. That difference of two totals swings with this machine's load by
more than an output costs, so each output is also timed inside the same calls: with all five subscribed, the
time from the mask being ready (or the previous output's publish) to this output's publish, against the
inference path of that call (message in to mask ready). The model: a DeepLabV3+ (MobileNetV2) exported by edgeseg
with the confidence output, on ONNX Runtime CPU, as in outputs_cost. Writes benchmarks/results/RESULT.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from outputs_cost import export_models
from results_io import git_commit, machine, save

OUTPUTS = ["class_mask", "color_mask", "overlay", "confidence", "camera_info"]
CONFIGS = {"none (inference path)": [], **{name: [name] for name in OUTPUTS}, "all five": OUTPUTS}


class Publisher:
    """A publisher with a settable subscriber count; publish() serializes the message as rclpy would."""

    def __init__(self, store: Any, msgtype: str, topic: str, marks: list[tuple[str, float]]) -> None:
        self.store, self.msgtype, self.subscribers, self.sent = store, msgtype, 0, 0
        self.topic, self.marks = topic, marks

    def get_subscription_count(self) -> int:
        return self.subscribers

    def publish(self, message: Any) -> None:
        self.store.serialize_cdr(message, self.msgtype)
        self.sent += 1
        self.marks.append((self.topic, time.perf_counter()))


class MessagePort:
    """The node's RosPort over rosbags' message classes, without a ROS graph (rclpy's place is the transport)."""

    def __init__(self) -> None:
        from rosbags.typesys import Stores, get_typestore

        from edgeseg.runtime.ros2_rclpy import RclpyPort

        self.store = get_typestore(Stores.ROS2_HUMBLE)
        types = self.store.types
        self.Image, self.CameraInfo = types["sensor_msgs/msg/Image"], types["sensor_msgs/msg/CameraInfo"]
        self.RegionOfInterest = types["sensor_msgs/msg/RegionOfInterest"]
        self.marks: list[tuple[str, float]] = []  # (output, when its publish returned), in publishing order
        self.publishers: dict[str, Publisher] = {}
        # The conversions rclpy's port makes (array.array for sequences): the same code, not a copy of it.
        self.byte_sequence = lambda data: np.frombuffer(RclpyPort.byte_sequence(self, data), np.uint8)
        self.float_sequence = lambda data: np.frombuffer(RclpyPort.float_sequence(self, data), np.float64)

    def parameter(self, name: str, default: Any) -> Any:
        return default

    def subscribe(self, msg_type: type, topic: str, callback: Any, reliable: bool) -> None:
        pass

    def publisher(self, msg_type: type, topic: str, reliable: bool) -> Publisher:
        kind = "sensor_msgs/msg/CameraInfo" if msg_type is self.CameraInfo else "sensor_msgs/msg/Image"
        name = topic.removeprefix("~/")
        self.publishers[name] = publisher = Publisher(self.store, kind, name, self.marks)
        return publisher

    def log(self, level: str, message: str) -> None:
        print(f"[{level}] {message}")


def camera_messages(port: MessagePort, count: int) -> tuple[list[Any], Any]:
    import cv2

    from edgeseg.data.synth import synth_image

    types = port.store.types
    Header, Time = types["std_msgs/msg/Header"], types["builtin_interfaces/msg/Time"]
    rng, messages = np.random.default_rng(0), []
    for i in range(count):
        image = cv2.cvtColor(synth_image(rng, 480, 640, 6)[0], cv2.COLOR_RGB2BGR)
        header = Header(stamp=Time(sec=i, nanosec=0), frame_id="front_camera")
        data = np.frombuffer(image.tobytes(), np.uint8)
        messages.append(port.Image(header, 480, 640, "bgr8", 0, 640 * 3, data))
    k = np.array([500.0, 0, 320, 0, 500, 240, 0, 0, 1])
    p = np.array([500.0, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0])
    roi = port.RegionOfInterest(0, 0, 0, 0, False)
    info = port.CameraInfo(messages[0].header, 480, 640, "plumb_bob", np.zeros(5), k, np.eye(3).ravel(), p, 0, 0, roi)
    return messages, info


def timed_in_call(node: Any, port: MessagePort, messages: list[Any], rounds: int) -> dict[str, list[float]]:
    """Per call with all five outputs subscribed: the inference path (message in to mask ready) and each output's
    own time (from the mask, or the output published before it, to its publish), ms."""
    finish = node.segmenter.finish

    def timed_finish(*args: Any) -> Any:
        mask = finish(*args)
        port.marks.append(("mask", time.perf_counter()))
        return mask

    node.segmenter.finish = timed_finish
    for publisher in port.publishers.values():
        publisher.subscribers = 1
    times: dict[str, list[float]] = {"inference path": [], **{name: [] for name in OUTPUTS}}
    for _ in range(rounds):
        for message in messages:
            port.marks.clear()
            start = time.perf_counter()
            node.process(message)
            previous = start
            for name, when in port.marks:
                times["inference path" if name == "mask" else name].append(1000 * (when - previous))
                previous = when
    node.segmenter.finish = finish
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--result", default="ros2_node_cost")
    args = parser.parse_args()

    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.ros2_node import NodeSettings, SegmentationNode
    from edgeseg.runtime.segmenter import Segmenter

    with tempfile.TemporaryDirectory() as tmp:
        model = export_models(Path(tmp), args.size, args.classes)["confidence"]
        backend = open_model(model, provider="cpu", spin=False)  # idle threads spinning would count as CPU time
    port = MessagePort()
    node = SegmentationNode(port, Segmenter(backend), NodeSettings(camera_info_topic="camera_info"))
    node.close()  # process() is called here, on this thread: the node's own thread is not needed
    messages, node.camera_info = camera_messages(port, args.frames)
    for message in messages[:5]:
        node.process(message)  # warm-up: ONNX Runtime's first runs, the allocations
    per_round: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for round_index in range(args.rounds):
        names = list(CONFIGS)
        names = names[round_index % len(names) :] + names[: round_index % len(names)]  # rotated: drift hits all
        for name in names:
            for output, publisher in port.publishers.items():
                publisher.subscribers = int(output in CONFIGS[name])
            start = time.process_time()
            for message in messages:
                node.process(message)
            per_round[name].append(1000 * (time.process_time() - start) / len(messages))
    in_call = timed_in_call(node, port, messages, args.rounds)
    backend.close()
    path_ms = statistics.median(in_call["inference path"])
    timed = {
        name: {"ms": round(statistics.median(t), 3), "share": round(statistics.median(t) / path_ms, 4)}
        for name, t in in_call.items()
    }
    base = per_round["none (inference path)"]
    rows = []
    for name, times in per_round.items():
        extra = [t - b for t, b in zip(times, base)]
        cost = None if name.startswith("none") else statistics.median(e / b for e, b in zip(extra, base))
        rows.append({
            "outputs": name,
            "cpu_ms_per_image": round(statistics.median(times), 2),
            "extra_ms": None if name.startswith("none") else round(statistics.median(extra), 2),
            "cost": None if cost is None else round(cost, 4),
        })  # fmt: skip
    sent = {name: publisher.sent for name, publisher in port.publishers.items()}
    result = {
        "benchmark": "ros2_node_cost",
        "machine": machine(),
        "commit": git_commit(),
        "model": f"deeplabv3plus_mobilenetv2 {args.size}² {args.classes} classes, class map + confidence, ORT CPU",
        "image": "640×480 bgr8 with camera_info",
        "frames": args.frames,
        "rounds": args.rounds,
        "rows": rows,
        "timed_in_call": timed,
        "messages_serialized": sent,
    }
    rerun = "nice -n 5 python benchmarks/ros2_node_cost.py"
    rerun += f" --frames {args.frames} --rounds {args.rounds} --size {args.size} --classes {args.classes}"
    markdown = [
        "# What the ROS 2 node's conversions cost beside inference",
        "",
        f"`edgeseg ros2`'s node code (`runtime/ros2_node.py`) on {args.frames} 640×480 bgr8 camera images with a "
        f"camera_info, DeepLabV3+ MobileNetV2 at {args.size}² with {args.classes} classes (class map and confidence "
        f"outputs) on ONNX Runtime CPU, {args.rounds} interleaved rounds. Every published message is built as the "
        "node builds it for rclpy and serialized to CDR with rosbags (standing in for rclpy's serializer; the DDS "
        "transport is not measured: no ROS 2 here). CPU time per image of the process (ONNX Runtime's threads "
        "included, without spinning); an output's cost is "
        "the median over rounds of its extra time over the round's baseline (message → image, inference, mask, "
        f"nothing published). Commit {git_commit()}; {machine()}.",
        "",
        "| outputs subscribed | CPU ms / image | extra ms | cost |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        extra = "—" if row["extra_ms"] is None else f"{row['extra_ms']:.2f}"
        cost = "—" if row["cost"] is None else f"{100 * row['cost']:+.1f} %"
        markdown.append(f"| {row['outputs']} | {row['cpu_ms_per_image']:.2f} | {extra} | {cost} |")
    outputs = [t for name, t in timed.items() if name != "inference path"]

    def share(t: dict[str, float]) -> str:
        return "—" if t is timed["inference path"] else f"{100 * t['share']:.1f} %"

    markdown += [
        "",
        f"Timed inside the same calls (all five subscribed, {args.frames * args.rounds} calls; medians, wall time "
        "on the node's one thread): each output from the mask being ready, or the output before it being "
        "published, to its own publish, against the call's inference path.",
        "",
        "| part of the call | ms / image | share of the inference path |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {t['ms']:.2f} | {share(t)} |" for name, t in timed.items()),
        f"| all five outputs | {sum(t['ms'] for t in outputs):.2f} | {100 * sum(t['share'] for t in outputs):.1f} % |",
        "",
        "An output nobody subscribes to is not computed, so the baseline is also what the node costs when only "
        "some outputs are used. class_mask and confidence are mono8, color_mask rgb8 and overlay bgr8, all at "
        "the camera's 640×480 (`mask_size: input`, the default); camera_info is scaled to the mask.",
        "",
        f"Rerun: `{rerun}`",
    ]
    save(args.result, result, markdown)


if __name__ == "__main__":
    main()
