"""The ROS 2 node: its logic with the real message types, through the rclpy double at the rclpy boundary only.

fake_rclpy stands in for rclpy (not installable here) and is as strict as rclpy (its docstring says how); the
messages cross it as CDR through rosbags' real serialization. The model is a real ONNX Runtime session.
"""

from __future__ import annotations

import array
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the ROS 2 message types come from rosbags")

from edgeseg.errors import EdgesegError

from . import fake_rclpy


@pytest.fixture
def ros(monkeypatch):
    fake_rclpy.install(monkeypatch)
    yield fake_rclpy
    fake_rclpy.shutdown()


class Robot:
    """The rest of the robot: a camera driver publishing images, and a listener on every output of the node."""

    def __init__(self, ros, namespace: str = "/edgeseg") -> None:
        self.node = ros.Node("camera_driver")
        self.camera = self.node.create_publisher(ros.classes["sensor_msgs/msg/Image"], "/camera/image", 10)
        self.info = self.node.create_publisher(ros.classes["sensor_msgs/msg/CameraInfo"], "/camera/info", 10)
        self.received: dict[str, list] = {}
        for name in ("class_mask", "color_mask", "overlay", "confidence", "camera_info"):
            kind = "sensor_msgs/msg/CameraInfo" if name == "camera_info" else "sensor_msgs/msg/Image"
            self.received[name] = []
            self.node.create_subscription(ros.classes[kind], f"{namespace}/{name}", self.received[name].append, 10)

    def send(self, ros, image: np.ndarray, encoding: str = "bgr8", stamp: tuple[int, int] = (7, 500)) -> None:
        Image, Header, Time = (ros.classes[f] for f in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                          "builtin_interfaces/msg/Time"))  # fmt: skip
        channels = 1 if image.ndim == 2 else image.shape[2]
        header = Header(stamp=Time(sec=stamp[0], nanosec=stamp[1]), frame_id="front_camera")
        size = {"height": image.shape[0], "width": image.shape[1], "step": image.shape[1] * channels}
        data = array.array("B", image.tobytes())
        message = Image(header=header, encoding=encoding, is_bigendian=0, data=data, **size)
        self.camera.publish(message)

    def wait(self, ros, name: str, count: int, seconds: float = 60) -> list:
        deadline = time.monotonic() + seconds
        while len(self.received[name]) < count:
            assert time.monotonic() < deadline, f"{name}: {len(self.received[name])} of {count} messages"
            ros.spin_once(self.node, timeout_sec=0.05)
        return self.received[name]


def _start(ros, model, *params: str):
    from edgeseg.runtime.backends import open_model
    from edgeseg.runtime.ros2_node import NodeSettings, SegmentationNode
    from edgeseg.runtime.ros2_rclpy import RclpyPort
    from edgeseg.runtime.segmenter import Segmenter

    args = ["edgeseg", "--ros-args", "-p", "image_topic:=/camera/image", *(p for kv in params for p in ("-p", kv))]
    port = RclpyPort("edgeseg", args=args)
    settings = NodeSettings.from_port(port)
    backend = open_model(model, provider="cpu")
    node = SegmentationNode(port, Segmenter(backend), settings)
    spinner = threading.Thread(target=port.spin, daemon=True)
    spinner.start()
    return port, node, backend


def _frame() -> np.ndarray:
    from edgeseg.data.synth import synth_image

    return cv2.cvtColor(synth_image(np.random.default_rng(3), 60, 80, 4)[0], cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def logits_onnx(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint exported with logits out: the node computes the confidence on the host."""
    from edgeseg.export.steps import ExportOptions, run_export

    out = tmp_path_factory.mktemp("logits")
    run_export(ExportOptions(tiny_checkpoint, out=out, engine=False, output="logits"), log=lambda m: None)
    return out / "model.onnx"


def test_every_output_carries_the_input_header_and_the_apis_mask(ros, logits_onnx):
    import edgeseg

    _port, node, backend = _start(ros, logits_onnx)
    robot = Robot(ros)
    try:
        image = _frame()
        robot.send(ros, image)
        for name in ("class_mask", "color_mask", "overlay", "confidence"):
            robot.wait(ros, name, 1)
    finally:
        node.close()
        backend.close()
    with edgeseg.load(logits_onnx, provider="cpu") as seg:
        expected = seg(image)
    mask = robot.received["class_mask"][0]
    assert (mask.encoding, mask.height, mask.width) == ("mono8", 60, 80)
    np.testing.assert_array_equal(np.frombuffer(mask.data, np.uint8).reshape(60, 80), expected)
    for name, encoding in (("color_mask", "rgb8"), ("overlay", "bgr8"), ("confidence", "mono8")):
        message = robot.received[name][0]
        assert message.encoding == encoding and (message.height, message.width) == (60, 80)
        assert (message.header.stamp.sec, message.header.stamp.nanosec) == (7, 500)
        assert message.header.frame_id == "front_camera"
    confidence = np.frombuffer(robot.received["confidence"][0].data, np.uint8)
    assert confidence.min() >= 255 // 4 and confidence.max() <= 255  # the top of 4 classes is at least 1/4
    assert robot.received["camera_info"] == []  # no camera_info_topic: none published


def test_a_class_map_model_publishes_no_confidence_and_says_so(ros, tiny_onnx):
    port, node, backend = _start(ros, tiny_onnx)
    node.close()
    backend.close()
    assert "confidence" not in node.publishers
    assert any("--confidence" in line for level, line in port.node.get_logger().lines if level == "warn")


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "rgba8", "mono8"])
def test_each_input_encoding_gives_the_mask_of_its_bgr_image(ros, tiny_onnx, encoding):
    import edgeseg

    image = _frame()
    converted = {
        "rgb8": cv2.cvtColor(image, cv2.COLOR_BGR2RGB),
        "bgra8": cv2.cvtColor(image, cv2.COLOR_BGR2BGRA),
        "rgba8": cv2.cvtColor(image, cv2.COLOR_BGR2RGBA),
        "mono8": cv2.cvtColor(image, cv2.COLOR_BGR2GRAY),
    }[encoding]
    _port, node, backend = _start(ros, tiny_onnx)
    robot = Robot(ros)
    try:
        robot.send(ros, converted, encoding)
        mask = robot.wait(ros, "class_mask", 1)[0]
    finally:
        node.close()
        backend.close()
    bgr = cv2.cvtColor(converted, cv2.COLOR_GRAY2BGR) if encoding == "mono8" else image
    with edgeseg.load(tiny_onnx, provider="cpu") as seg:
        np.testing.assert_array_equal(np.frombuffer(mask.data, np.uint8).reshape(60, 80), seg(bgr))


def test_network_size_masks_and_a_scaled_camera_info(ros, tiny_onnx):
    _port, node, backend = _start(ros, tiny_onnx, "mask_size:=network", "camera_info_topic:=/camera/info")
    robot = Robot(ros)
    CameraInfo = ros.classes["sensor_msgs/msg/CameraInfo"]
    RegionOfInterest = ros.classes["sensor_msgs/msg/RegionOfInterest"]
    Header, Time = ros.classes["std_msgs/msg/Header"], ros.classes["builtin_interfaces/msg/Time"]
    info = CameraInfo(
        header=Header(stamp=Time(sec=7, nanosec=500), frame_id="front_camera"), height=60, width=80,
        distortion_model="plumb_bob", d=array.array("d", [0.1, 0.0, 0.0, 0.0, 0.0]),
        k=np.array([100.0, 0, 40, 0, 100, 30, 0, 0, 1]), r=np.eye(3).reshape(-1),
        p=np.array([100.0, 0, 40, 0, 0, 100, 30, 0, 0, 0, 1, 0]), binning_x=0, binning_y=0,
        roi=RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )  # fmt: skip
    try:
        robot.info.publish(info)
        time.sleep(0.3)  # the calibration first, as a driver latches it
        robot.send(ros, _frame())
        mask = robot.wait(ros, "class_mask", 1)[0]
        scaled = robot.wait(ros, "camera_info", 1)[0]
    finally:
        node.close()
        backend.close()
    size = backend.metadata.input_size  # 32×32 network, letterboxed 80×60 → 32×24
    assert (mask.width, mask.height) == (size[1], round(60 * size[1] / 80))
    assert (scaled.width, scaled.height) == (mask.width, mask.height)
    np.testing.assert_allclose(scaled.k[[0, 2, 4, 5]], np.array([100, 40, 100, 30]) * mask.width / 80)
    assert scaled.header.frame_id == "front_camera" and list(scaled.d) == [0.1, 0, 0, 0, 0]


def test_a_slow_model_skips_images_and_unreadable_ones_are_counted(ros, tiny_onnx, monkeypatch):
    port, node, backend = _start(ros, tiny_onnx)
    robot = Robot(ros)
    infer = backend.infer
    monkeypatch.setattr(backend, "infer", lambda inputs: (time.sleep(0.2), infer(inputs))[1])
    try:
        robot.send(ros, np.zeros((4, 4), np.uint16).view(np.uint8).reshape(4, 8), "16UC1")
        deadline = time.monotonic() + 60
        while node.counts.unreadable == 0:  # taken before the next image: keep-last-1 would drop it otherwise
            assert time.monotonic() < deadline, "the unreadable image never reached the node"
            time.sleep(0.01)
        for i in range(20):
            robot.send(ros, _frame(), stamp=(i, 0))
        deadline, seen = time.monotonic() + 60, None
        while True:  # until the node has taken everything it received and finished the image it was working on
            c = node.counts
            now = (c.received, c.processed, c.skipped, c.unreadable)
            if now == seen and node._slot is None and c.processed + c.skipped + c.unreadable == c.received:
                break
            seen = now
            assert time.monotonic() < deadline, f"the node did not settle: {c}"
            time.sleep(0.5)
    finally:
        node.close()
        backend.close()
    counts = node.counts
    # Keep-last-1 QoS drops what the node's callback never took; what it took is processed, skipped or unreadable.
    assert counts.unreadable == 1 and 2 <= counts.received <= 21 and counts.processed < counts.received
    assert counts.processed + counts.skipped + counts.unreadable == counts.received
    assert ("warn", "skipped 1 image(s): image encoding '16UC1' is not one edgeseg reads (bgr8, rgb8, bgra8, "
            "rgba8, mono8, yuv422, uyvy, yuv422_yuy2, yuyv)") in port.node.get_logger().lines  # fmt: skip


def test_outputs_nobody_subscribes_to_are_not_computed(ros, tiny_onnx, monkeypatch):
    from edgeseg.runtime.segmenter import Segmenter

    confidences = []
    original = Segmenter.confidence
    monkeypatch.setattr(Segmenter, "confidence", lambda *a: confidences.append(1) or original(*a))
    _port, node, backend = _start(ros, tiny_onnx)
    listener = ros.Node("listener")
    masks: list = []
    listener.create_subscription(ros.classes["sensor_msgs/msg/Image"], "/edgeseg/class_mask", masks.append, 10)
    robot = Robot(ros, namespace="/nobody")
    try:
        robot.send(ros, _frame())
        while not masks:
            ros.spin_once(listener, timeout_sec=0.05)
    finally:
        node.close()
        backend.close()
    assert confidences == [] and node.counts.processed == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            ["alpha:=1"],
            "parameter alpha: Trying to set parameter 'alpha' to '1' of type 'INTEGER', expecting type 'DOUBLE'",
        ),
        (["mask_size:=full"], "parameter mask_size must be one of input, network, got 'full'"),
        (["image_topic:='camera image'"], "invalid topic name 'camera image'"),
        (["classes:=person"], "parameter classes: person is not among the model's classes"),
    ],
)
def test_bad_parameters_are_one_line(ros, tiny_onnx, params, message):
    with pytest.raises(EdgesegError, match=message.replace("(", r"\(")):
        _port, node, _backend = _start(ros, tiny_onnx, *params)
        node.close()


# The double refuses what rclpy refuses (fake_rclpy's docstring): a double kinder than rclpy would hide the bugs.


def test_the_double_is_as_strict_as_rclpy(ros):
    ros.init()
    node = ros.Node("strict")
    Image, CameraInfo = ros.classes["sensor_msgs/msg/Image"], ros.classes["sensor_msgs/msg/CameraInfo"]
    with pytest.raises(TypeError, match="Expected QoSProfile or int"):
        node.create_publisher(Image, "out", "sensor_data")
    publisher = node.create_publisher(Image, "~/out", ros.qos_profile_sensor_data)
    assert publisher.topic == "/strict/out"
    with pytest.raises(TypeError, match=r"Expected .*Image.*got .*CameraInfo"):
        publisher.publish(CameraInfo())
    with pytest.raises(AssertionError, match="set or sequence"):
        Image(data=np.zeros(4, np.uint8))  # rclpy takes array.array('B') or a sequence of ints, not numpy
    with pytest.raises(ros.InvalidTopicNameException):
        node.create_subscription(Image, "bad topic", print, 1)
    ros.shutdown()
    with pytest.raises(ros.RCLError, match="context is invalid"):
        publisher.publish(Image())
