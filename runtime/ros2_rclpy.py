"""The node's ROS 2 side through rclpy: what `edgeseg ros2` runs on a machine with ROS 2 Humble or Jazzy.

rclpy and the message packages come with ROS 2 (source /opt/ros/<distro>/setup.bash), never from PyPI; they are
imported here only. Everything else the node does is in `runtime/ros2_node.py`.
"""

from __future__ import annotations

import array
from typing import Any, Callable

import numpy as np

from edgeseg.errors import EdgesegError, MissingDependencyError

ROS_HINT = (
    "rclpy comes with ROS 2, not from pip: install ROS 2 Humble or Jazzy, `source /opt/ros/<distro>/setup.bash`, "
    "and run edgeseg from a venv made with --system-site-packages"
)


class RclpyPort:
    """A ROS 2 node through rclpy, as the segmentation node's `RosPort`."""

    def __init__(self, name: str = "edgeseg", args: list[str] | None = None) -> None:
        try:
            import rclpy
            from rclpy.node import Node
            from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
            from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
        except ImportError as exc:
            missing = f"`edgeseg ros2` needs ROS 2's rclpy ({exc.name} is missing)"
            raise MissingDependencyError(f"{missing}: {ROS_HINT}") from None
        self.rclpy = rclpy
        self.Image, self.CameraInfo, self.RegionOfInterest = Image, CameraInfo, RegionOfInterest
        self._qos = {
            reliable: QoSProfile(
                depth=1,
                history=HistoryPolicy.KEEP_LAST,
                reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            )
            for reliable in (False, True)
        }
        rclpy.init(args=args)
        self.node = Node(name)

    def parameter(self, name: str, default: Any) -> Any:
        try:
            return self.node.declare_parameter(name, default).value
        except Exception as exc:  # rclpy.exceptions.InvalidParameterTypeException and kin: a user's -p value
            raise EdgesegError(f"parameter {name}: {exc}") from exc

    def _topic(self, create: Callable[[], Any], topic: str) -> Any:
        try:
            return create()
        except Exception as exc:
            if type(exc).__name__ == "InvalidTopicNameException":
                raise EdgesegError(f"invalid topic name {topic!r}: {exc}") from exc
            raise

    def subscribe(self, msg_type: type, topic: str, callback: Callable[[Any], None], reliable: bool) -> None:
        self._topic(lambda: self.node.create_subscription(msg_type, topic, callback, self._qos[reliable]), topic)

    def publisher(self, msg_type: type, topic: str, reliable: bool) -> Any:
        return self._topic(lambda: self.node.create_publisher(msg_type, topic, self._qos[reliable]), topic)

    def byte_sequence(self, data: np.ndarray) -> Any:
        # array.array('B') is what a generated uint8[] field takes at once; anything else is checked element by
        # element in Python (tens of ms for one camera frame), and a numpy array is refused. frombytes copies
        # from the array's own buffer: one copy of the frame, where tobytes() first would make two.
        sequence = array.array("B")
        sequence.frombytes(np.ascontiguousarray(data, np.uint8).reshape(-1))
        return sequence

    def float_sequence(self, data: np.ndarray) -> Any:
        return array.array("d", np.ascontiguousarray(data, np.float64).tobytes())

    def log(self, level: str, message: str) -> None:
        logger = self.node.get_logger()
        {"info": logger.info, "warn": logger.warning, "error": logger.error}[level](message)

    def spin(self) -> None:
        """Run callbacks until Ctrl-C, SIGTERM or a shutdown."""
        try:
            self.rclpy.spin(self.node)
        except KeyboardInterrupt:
            pass
        except Exception as exc:  # rclpy.executors.ExternalShutdownException: the context was shut down
            if type(exc).__name__ != "ExternalShutdownException":
                raise

    def close(self) -> None:
        self.node.destroy_node()
        if self.rclpy.ok():
            self.rclpy.shutdown()
