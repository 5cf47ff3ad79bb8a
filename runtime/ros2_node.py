"""The ROS 2 segmentation node's logic: images in, masks out, with the input's header on every output.

Kept apart from rclpy (which only a ROS 2 machine has): the node talks to ROS through a `RosPort`
(`runtime/ros2_rclpy.py` is the real one). It subscribes to `sensor_msgs/Image` (and optionally `CameraInfo`),
and publishes `~/class_mask` (mono8), `~/color_mask` (rgb8), `~/overlay` (bgr8), `~/confidence` (mono8, 0–255)
and `~/camera_info` scaled to the mask. Inference runs on its own thread behind a one-message slot: a model
slower than the camera skips frames (counted) instead of queueing them, and an output nobody subscribes to is
not computed. docs/ros2.md describes the parameters.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

import numpy as np

from edgeseg.errors import EdgesegError, describe, require
from edgeseg.runtime.preprocess import Placement
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.ros_images import (
    UnsupportedImage,
    image_fields,
    image_to_bgr,
    scaled_camera_info_fields,
)
from edgeseg.runtime.segmenter import Segmenter

cv2 = require("cv2", extra="cv")

OUTPUTS = ("class_mask", "color_mask", "overlay", "confidence", "camera_info")
MASK_SIZES = ("input", "network")


class RosPort(Protocol):
    """What the node needs from ROS 2: parameters, topics, message classes, a logger."""

    Image: type
    CameraInfo: type
    RegionOfInterest: type

    def parameter(self, name: str, default: Any) -> Any: ...

    def subscribe(self, msg_type: type, topic: str, callback: Callable[[Any], None], reliable: bool) -> None: ...

    def publisher(self, msg_type: type, topic: str, reliable: bool) -> Any: ...

    def byte_sequence(self, data: np.ndarray) -> Any:
        """A uint8 array as the message field takes it."""

    def float_sequence(self, data: np.ndarray) -> Any:
        """A float64 array as a variable-length message field takes it."""

    def log(self, level: str, message: str) -> None: ...


@dataclass
class NodeSettings:
    """The node's ROS parameters (`--ros-args -p name:=value`), with their defaults."""

    image_topic: str = "image"
    camera_info_topic: str = ""  # "" = no calibration in, none out
    mask_size: str = "input"  # "input": the image's size; "network": the model's resolution, letterbox cropped
    alpha: float = 0.7  # weight of the image in the overlay
    classes: str = ""  # colour only these, "person,car" (empty: every class but background)
    reliable: bool = False  # QoS: reliable, keep last 1; default best effort, keep last 1 (sensor data)

    @classmethod
    def from_port(cls, port: RosPort) -> NodeSettings:
        defaults = cls()
        values = {name: port.parameter(name, getattr(defaults, name)) for name in vars(defaults)}
        settings = replace(defaults, **values)
        if settings.mask_size not in MASK_SIZES:
            sizes = ", ".join(MASK_SIZES)
            raise EdgesegError(f"parameter mask_size must be one of {sizes}, got {settings.mask_size!r}")
        if not 0 <= settings.alpha <= 1:
            raise EdgesegError(f"parameter alpha must be between 0 and 1, got {settings.alpha}")
        return settings


@dataclass
class NodeCounts:
    received: int = 0
    skipped: int = 0  # replaced by a newer image before inference took it
    unreadable: int = 0  # an encoding or size the node cannot read
    failed: int = 0  # an error while segmenting or publishing it (logged)
    processed: int = 0


class SegmentationNode:
    """Subscribes, segments on its own thread, publishes; `close()` stops the thread."""

    def __init__(self, port: RosPort, segmenter: Segmenter, settings: NodeSettings) -> None:
        meta = segmenter.metadata
        self.port, self.segmenter, self.settings = port, segmenter, settings
        shown = [name.strip() for name in settings.classes.split(",") if name.strip()] or None
        unknown = [name for name in shown or [] if name not in meta.class_names]
        if unknown:
            names = ", ".join(meta.class_names)
            raise EdgesegError(f"parameter classes: {', '.join(unknown)} is not among the model's classes ({names})")
        self.renderer = Renderer(meta.class_names, meta.palette, alpha=settings.alpha, classes=shown)
        self.counts = NodeCounts()
        wanted = [name for name in OUTPUTS if name != "camera_info" or settings.camera_info_topic]
        types = {"camera_info": port.CameraInfo}
        self.publishers = {
            name: port.publisher(types.get(name, port.Image), f"~/{name}", settings.reliable) for name in wanted
        }
        if "confidence" in self.publishers and not segmenter.has_confidence:
            port.log("warn", "this model returns class indices only: ~/confidence is not published "
                             "(export it with --confidence)")  # fmt: skip
            del self.publishers["confidence"]
        self.camera_info: Any = None
        self._slot: Any = None
        self._ready = threading.Condition()
        self._closing = False
        port.subscribe(port.Image, settings.image_topic, self.on_image, settings.reliable)
        if settings.camera_info_topic:
            port.subscribe(port.CameraInfo, settings.camera_info_topic, self.on_camera_info, settings.reliable)
        self._thread = threading.Thread(target=self._work, name="segmentation", daemon=True)
        self._thread.start()

    def on_image(self, message: Any) -> None:
        """Subscription callback: keep only the newest image for the inference thread."""
        with self._ready:
            self.counts.received += 1
            if self._slot is not None:
                self.counts.skipped += 1
            self._slot = message
            self._ready.notify()

    def on_camera_info(self, message: Any) -> None:
        self.camera_info = message

    def _work(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._slot is not None or self._closing)
                if self._closing:
                    return
                message, self._slot = self._slot, None
            try:
                self.process(message)
            except UnsupportedImage as exc:
                self.counts.unreadable += 1
                if self.counts.unreadable in (1, 10, 100) or self.counts.unreadable % 1000 == 0:
                    self.port.log("warn", f"skipped {self.counts.unreadable} image(s): {exc}")
            except Exception as exc:  # one image's failure (an engine error, a publisher gone) is not the node's end
                self.counts.failed += 1
                self.port.log("error", f"image {self.counts.received} failed: {describe(exc)}")

    def _subscribed(self, name: str) -> bool:
        publisher = self.publishers.get(name)
        return publisher is not None and publisher.get_subscription_count() > 0

    def process(self, message: Any) -> None:
        """Segment one image message and publish what is subscribed, each with the input's header."""
        image = image_to_bgr(message)
        tensor, placement = self.segmenter.prepare(image)
        output = self.segmenter.infer_outputs(tensor)
        if self.settings.mask_size == "network":  # the network's own pixels, without the letterbox
            placement = _network_placement(placement)
            image = np.ascontiguousarray(_resized(image, placement))
        mask = self.segmenter.finish(output.scores, placement)
        header = message.header
        if self._subscribed("class_mask"):
            self._publish("class_mask", header, mask, "mono8")
        if self._subscribed("color_mask"):
            self._publish("color_mask", header, self.renderer.colour(mask, rgb=True), "rgb8")
        if self._subscribed("overlay"):
            self._publish("overlay", header, self.renderer.draw(image, mask), "bgr8")
        if self._subscribed("confidence"):
            confidence = self.segmenter.confidence(output, placement)
            self._publish("confidence", header, np.rint(confidence * 255).astype(np.uint8), "mono8")
        if self._subscribed("camera_info") and self.camera_info is not None:
            fields = scaled_camera_info_fields(self.camera_info, mask.shape[1], mask.shape[0])
            fields["roi"] = self.port.RegionOfInterest(**fields["roi"])
            for name in ("d",):
                fields[name] = self.port.float_sequence(fields[name])
            self.publishers["camera_info"].publish(self.port.CameraInfo(header=header, **fields))
        self.counts.processed += 1

    def _publish(self, name: str, header: Any, array: np.ndarray, encoding: str) -> None:
        fields = image_fields(array, encoding)
        fields["data"] = self.port.byte_sequence(fields["data"])
        self.publishers[name].publish(self.port.Image(header=header, **fields))

    def close(self, timeout: float = 5.0) -> None:
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)


def _network_placement(placement: Placement) -> Placement:
    """The same placement with the image at its size inside the network input: post-processing only crops."""
    return replace(placement, image_size=(placement.height, placement.width))


def _resized(image: np.ndarray, placement: Placement) -> np.ndarray:
    return cv2.resize(image, (placement.width, placement.height), interpolation=cv2.INTER_AREA)
