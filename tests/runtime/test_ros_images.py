"""ROS 2 image messages ↔ arrays, with the real ROS 2 message types and CDR serialization of `rosbags`."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime.ros_images import (
    UnsupportedImage,
    image_fields,
    image_to_bgr,
    scaled_camera_info_fields,
    stamp_fields,
)

rosbags = pytest.importorskip("rosbags", reason="the ROS 2 message types come from rosbags: pip install rosbags")
from rosbags.typesys import Stores, get_typestore  # noqa: E402

TYPES = get_typestore(Stores.ROS2_HUMBLE)
Image = TYPES.types["sensor_msgs/msg/Image"]
CameraInfo = TYPES.types["sensor_msgs/msg/CameraInfo"]
Header = TYPES.types["std_msgs/msg/Header"]
Time = TYPES.types["builtin_interfaces/msg/Time"]
RegionOfInterest = TYPES.types["sensor_msgs/msg/RegionOfInterest"]


def _over_the_wire(message):
    """What a subscriber receives: the message serialized to CDR and read back."""
    return TYPES.deserialize_cdr(TYPES.serialize_cdr(message, message.__msgtype__), message.__msgtype__)


def _image(array: np.ndarray, encoding: str, step: int | None = None) -> Image:
    height, width = array.shape[:2]
    rows = array.reshape(height, -1)
    step = step or rows.shape[1]
    padded = np.zeros((height, step), np.uint8)
    padded[:, : rows.shape[1]] = rows
    header = Header(stamp=Time(sec=12, nanosec=5), frame_id="front_camera")
    return Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0, step=step,
                 data=padded.reshape(-1))  # fmt: skip


BGR = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("encoding", "array", "expected"),
    [
        ("bgr8", BGR, BGR),
        ("rgb8", BGR[..., ::-1], BGR),
        ("bgra8", np.dstack([BGR, np.full(BGR.shape[:2], 9, np.uint8)]), BGR),
        ("rgba8", np.dstack([BGR[..., ::-1], np.full(BGR.shape[:2], 9, np.uint8)]), BGR),
        ("mono8", BGR[..., 0], np.dstack([BGR[..., 0]] * 3)),
    ],
)
@pytest.mark.parametrize("padding", [0, 7])
def test_every_input_encoding_becomes_bgr(encoding, array, expected, padding):
    row = array.reshape(array.shape[0], -1).shape[1]
    message = _over_the_wire(_image(np.ascontiguousarray(array), encoding, step=row + padding))
    np.testing.assert_array_equal(image_to_bgr(message), expected)


def test_yuv422_is_uyvy_in_video_range():
    luma = np.array([16, 100, 200, 235], np.uint8)
    uyvy = np.empty((1, 4, 2), np.uint8)
    uyvy[0, :, 0], uyvy[0, :, 1] = 128, luma  # U/V (neutral chroma) interleaved with Y
    bgr = image_to_bgr(_over_the_wire(_image(uyvy, "yuv422")))
    np.testing.assert_allclose(bgr[0, :, 0], np.clip((luma.astype(float) - 16) * 255 / 219, 0, 255), atol=1)
    assert bgr.shape == (1, 4, 3)


@pytest.mark.parametrize(
    ("encoding", "height", "step", "message"),
    [
        ("16UC1", 5, 12, "encoding '16UC1' is not one edgeseg reads"),
        ("bgr8", 5, 10, "carries 90 bytes"),  # a step shorter than a row
        ("bgr8", 9, 18, "carries 90 bytes"),  # more rows than data
    ],
)
def test_unreadable_messages_are_refused_with_the_reason(encoding, height, step, message):
    bad = Image(header=Header(stamp=Time(sec=0, nanosec=0), frame_id=""), height=height, width=6, encoding=encoding,
                is_bigendian=0, step=step, data=np.zeros(90, np.uint8))  # fmt: skip
    with pytest.raises(UnsupportedImage, match=message):
        image_to_bgr(bad)


@pytest.mark.parametrize(("encoding", "array"), [("mono8", BGR[..., 1]), ("rgb8", BGR), ("bgr8", BGR)])
def test_output_fields_make_a_valid_message(encoding, array):
    message = Image(header=Header(stamp=Time(**stamp_fields(1733480000.25)), frame_id="cam"),
                    **image_fields(array, encoding))  # fmt: skip
    back = _over_the_wire(message)
    assert (back.height, back.width, back.step) == (5, 6, 6 * (1 if encoding == "mono8" else 3))
    assert back.header.stamp.sec == 1733480000 and back.header.stamp.nanosec == 250_000_000
    np.testing.assert_array_equal(back.data.reshape(array.shape), array)
    with pytest.raises(ValueError, match="channel"):
        image_fields(BGR, "mono8")


def test_camera_info_scales_to_the_mask():
    info = CameraInfo(
        header=Header(stamp=Time(sec=3, nanosec=0), frame_id="cam"), height=480, width=640,
        distortion_model="plumb_bob",
        d=np.array([0.1, -0.2, 0, 0, 0.01]), k=np.array([500.0, 0, 320, 0, 510, 240, 0, 0, 1]),
        r=np.eye(3).reshape(-1), p=np.array([500.0, 0, 320, -25, 0, 510, 240, 0, 0, 0, 1, 0]), binning_x=0,
        binning_y=0, roi=RegionOfInterest(x_offset=64, y_offset=48, height=240, width=320, do_rectify=False),
    )  # fmt: skip
    fields = scaled_camera_info_fields(_over_the_wire(info), 320, 240)
    np.testing.assert_allclose(fields["k"], [250, 0, 160, 0, 255, 120, 0, 0, 1])
    np.testing.assert_allclose(fields["p"], [250, 0, 160, -12.5, 0, 255, 120, 0, 0, 0, 1, 0])
    assert (fields["width"], fields["height"]) == (320, 240) and fields["roi"]["x_offset"] == 32
    np.testing.assert_array_equal(fields["d"], info.d)
    scaled = CameraInfo(header=info.header, **{**fields, "roi": RegionOfInterest(**fields["roi"])})
    assert _over_the_wire(scaled).k[0] == 250
    with pytest.raises(UnsupportedImage, match="no image size"):
        scaled_camera_info_fields(CameraInfo(**{**vars(info), "width": 0, "height": 0}), 320, 240)
