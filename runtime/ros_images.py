"""ROS 2 image messages ↔ numpy arrays, and camera calibrations scaled to a mask: no rclpy needed.

The functions read and fill messages by their fields (`sensor_msgs/msg/Image`: header, height, width, encoding,
is_bigendian, step, data; `sensor_msgs/msg/CameraInfo`), so they work the same on rclpy's message classes and on
the `rosbags` package's (pure Python, what the tests and the MCAP recorder use).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError, require

cv2 = require("cv2", extra="cv")

# encoding → (channels, conversion to BGR); sensor_msgs/image_encodings.hpp names. ROS's "yuv422" is UYVY.
_TO_BGR: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
    "mono8": (1, cv2.COLOR_GRAY2BGR),
    "yuv422": (2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2BGR_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2BGR_YUY2),
}
INPUT_ENCODINGS = tuple(_TO_BGR)


class UnsupportedImage(EdgesegError):
    """An image message edgeseg cannot read (its encoding, or a size that does not match its data)."""


def _bytes(data: Any) -> np.ndarray:
    """A message's data field as uint8: bytes, array.array('B') (rclpy), a numpy array (rosbags) or a list."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype != np.uint8 else data.reshape(-1)
    if isinstance(data, (bytes, bytearray, memoryview)) or hasattr(data, "buffer_info"):
        return np.frombuffer(data, np.uint8)
    return np.asarray(data, np.uint8)


def image_to_bgr(message: Any) -> np.ndarray:
    """A sensor_msgs/Image as a BGR uint8 H×W×3 array (a copy where a conversion is needed, else a view)."""
    encoding = str(message.encoding).lower()
    if encoding not in _TO_BGR:
        raise UnsupportedImage(f"image encoding {message.encoding!r} is not one edgeseg reads ({', '.join(_TO_BGR)})")
    channels, conversion = _TO_BGR[encoding]
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = _bytes(message.data)
    if height <= 0 or width <= 0 or step < width * channels or data.size < height * step:
        raise UnsupportedImage(
            f"image message of {width}×{height} {encoding} with step {step} carries {data.size} bytes; "
            f"it needs at least {height * max(step, width * channels)}"
        )
    rows = data[: height * step].reshape(height, step)[:, : width * channels]  # drop each row's padding
    image = rows.reshape(height, width, channels) if channels != 1 else rows.reshape(height, width)
    if conversion is None:
        return image
    if channels == 2:
        image = np.ascontiguousarray(image)
    return cv2.cvtColor(image, conversion)


def image_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """The fields of a sensor_msgs/Image holding `array` (H×W mono8, or H×W×3 rgb8 / bgr8), data as uint8."""
    array = np.ascontiguousarray(array, np.uint8)
    channels = 1 if array.ndim == 2 else array.shape[2]
    expected = {"mono8": 1, "rgb8": 3, "bgr8": 3}[encoding]
    if channels != expected:
        raise ValueError(f"{encoding} needs {expected} channel(s), got an array of shape {array.shape}")
    height, width = array.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": width * channels,
        "data": array.reshape(-1),
    }


def scaled_camera_info_fields(info: Any, width: int, height: int) -> dict[str, Any]:
    """A sensor_msgs/CameraInfo's fields for the same camera seen at width × height (a mask of another size).

    The focal lengths, principal point and projection scale with the image, as image_proc's resize does:
    K[0], K[2] and P[0], P[2], P[3] by width / info.width; K[4], K[5] and P[5], P[6] by height / info.height.
    The region of interest scales too; distortion and rectification do not change.
    """
    if int(info.width) <= 0 or int(info.height) <= 0:
        raise UnsupportedImage(f"camera_info has no image size ({info.width}×{info.height}); calibrate the camera")
    sx, sy = width / int(info.width), height / int(info.height)
    k = np.asarray(info.k, np.float64).copy()
    p = np.asarray(info.p, np.float64).copy()
    k[[0, 2]] *= sx
    k[[4, 5]] *= sy
    p[[0, 2, 3]] *= sx
    p[[5, 6]] *= sy
    roi = info.roi
    return {
        "height": height,
        "width": width,
        "distortion_model": info.distortion_model,
        "d": np.asarray(info.d, np.float64).copy(),
        "k": k,
        "r": np.asarray(info.r, np.float64).copy(),
        "p": p,
        "binning_x": info.binning_x,
        "binning_y": info.binning_y,
        "roi": {
            "x_offset": round(roi.x_offset * sx),
            "y_offset": round(roi.y_offset * sy),
            "height": round(roi.height * sy),
            "width": round(roi.width * sx),
            "do_rectify": roi.do_rectify,
        },
    }


def stamp_fields(seconds: float) -> dict[str, int]:
    """A builtin_interfaces/Time for a wall-clock time in seconds (split first: a double holds ns only to ~200)."""
    whole = int(seconds // 1)
    nanoseconds = round((seconds - whole) * 1e9)
    return {"sec": whole + nanoseconds // 1_000_000_000, "nanosec": nanoseconds % 1_000_000_000}
