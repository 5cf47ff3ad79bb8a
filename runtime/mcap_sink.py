"""`--save run.mcap`: a recording a robot can replay (`ros2 bag play run.mcap`, Foxglove), written as frames finish.

One MCAP file of ROS 2 messages (rosbag2's MCAP storage, CDR, `ros2msg` schemas, written with `rosbags`): per frame
`sensor_msgs/Image` messages on `/edgeseg/image` (bgr8, the input), `/edgeseg/class_mask` (mono8),
`/edgeseg/color_mask` (rgb8) and `/edgeseg/confidence` (mono8, 0–255; where the model gives one), stamped with the
frame's capture time; and once, first, `/edgeseg/classes` (std_msgs/String: the class names and palette as JSON).
With several streams the topics are `/edgeseg/<stream>/…`. Like a video, the file is written under a hidden
partial name and renamed into place when closed; a killed run leaves the partial file (never deleted by a later
run), which `mcap recover` turns into a playable one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, MissingDependencyError
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.ros_images import image_fields, stamp_fields

TOPICS = ("image", "class_mask", "color_mask", "confidence")


def _rosbags() -> tuple[Any, Any, Any]:
    try:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore
    except ImportError:
        raise MissingDependencyError(
            "--save *.mcap needs rosbags (Python ≥ 3.10): pip install 'edgeseg[ros2]'"
        ) from None
    return Writer, StoragePlugin, get_typestore(Stores.ROS2_HUMBLE)


class McapSink:
    """A lossless output: every frame's messages, in the order the frames finished."""

    name, live = "mcap", False

    def __init__(
        self,
        path: Path,
        class_names: Sequence[str],
        palette: np.ndarray,
        *,
        streams: Sequence[str] = ("",),
        frame_id: str = "camera",
        force: bool = False,
        confidence: bool = False,
    ) -> None:
        """confidence: record the confidence topic (where the model can give one: logits, or a --confidence export;
        the loop computes it only for outputs that want it)."""
        self.wants_confidence = confidence
        writer_class, storage, self.types = _rosbags()
        if path.suffix.lower() != ".mcap":
            raise EdgesegError(f"--save {path}: a recording is named *.mcap")
        if path.exists() and not force:
            raise EdgesegError(f"--save {path} exists; pass another path, or --force to replace it")
        self.path, self.frame_id = path, frame_id
        # rosbags writes a bag folder (the file inside it); one per process, so an earlier killed run's is kept
        self.partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        self.writer = writer_class(self.partial, version=9, storage_plugin=storage.MCAP)
        try:
            self.writer.open()
        except Exception as exc:
            raise EdgesegError(f"cannot write {path} ({exc}); pass another --save path") from exc
        self.Image = self.types.types["sensor_msgs/msg/Image"]
        self.Header = self.types.types["std_msgs/msg/Header"]
        self.Time = self.types.types["builtin_interfaces/msg/Time"]
        prefixes = ["/edgeseg" if len(streams) == 1 else f"/edgeseg/{name}" for name in streams]
        image = self.Image.__msgtype__
        self.topics = [{topic: self._connect(f"{prefix}/{topic}", image) for topic in TOPICS} for prefix in prefixes]
        self.palette = np.asarray(palette, np.uint8)
        self._colours = Renderer(class_names, self.palette)
        self._write_classes(class_names)
        self.frames = 0

    def _connect(self, topic: str, msgtype: str) -> Any:
        return self.writer.add_connection(topic, msgtype, typestore=self.types)

    def _write_classes(self, class_names: Sequence[str]) -> None:
        string = self.types.types["std_msgs/msg/String"]
        connection = self._connect("/edgeseg/classes", string.__msgtype__)
        text = json.dumps({"class_names": list(class_names), "palette": self.palette.tolist()})
        self.writer.write(connection, 0, self.types.serialize_cdr(string(data=text), string.__msgtype__))

    def write(self, record: FrameRecord) -> None:
        stamp = self.Time(**stamp_fields(record.timestamp))
        header = self.Header(stamp=stamp, frame_id=self.frame_id)
        nanoseconds = stamp.sec * 1_000_000_000 + stamp.nanosec
        images = {
            "image": (record.image, "bgr8"),
            "class_mask": (record.mask, "mono8"),
            "color_mask": (self._colours.colour(record.mask, rgb=True), "rgb8"),
        }
        if record.confidence is not None:
            images["confidence"] = (np.rint(record.confidence * 255).astype(np.uint8), "mono8")
        topics = self.topics[record.stream if len(self.topics) > 1 else 0]
        for topic, (array, encoding) in images.items():
            message = self.Image(header=header, **image_fields(array, encoding))
            self.writer.write(topics[topic], nanoseconds, self.types.serialize_cdr(message, self.Image.__msgtype__))
        self.frames += 1

    def close(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        (written,) = self.partial.glob("*.mcap")
        os.replace(written, self.path)
        shutil.rmtree(self.partial)
