"""Where `--save rtsp://…`, `rtp://HOST:PORT` or `udp://HOST:PORT` sends its H.264 stream, and the GStreamer
pipeline that does it: checked text, without OpenCV (so `edgeseg --help` and these checks need none).

    appsrc ! <encoder: nvv4l2h264enc on a Jetson, x264enc elsewhere> ! h264parse ! <sink by scheme>

    rtp://HOST:PORT          RTP over UDP (payload 96), for a GStreamer or SDP player
    udp://HOST:PORT          MPEG-TS over UDP (ffplay udp://@:PORT and VLC play it as is)
    rtsp://HOST[:PORT]/PATH  published to an RTSP server (MediaMTX …), which serves it to any number of players
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from edgeseg.errors import EdgesegError
from edgeseg.runtime.jetson import jetson_release

SCHEMES = ("rtsp", "rtp", "udp")
HARDWARE, SOFTWARE = "nvv4l2h264enc", "x264enc"
BITRATE_KBPS = 4000  # 720p at 30 FPS over Wi-Fi without visible blocks
RTSP_PORT = 554
# Host names, IPv4 addresses and RTSP paths are pasted into a GStreamer pipeline: nothing that could close a
# property value or start another element (spaces, quotes, '!') gets through.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_PATH = re.compile(r"[A-Za-z0-9._~/-]*")
_CREDENTIAL = re.compile(r"[A-Za-z0-9._~-]+")


@dataclass(frozen=True)
class StreamTarget:
    scheme: str  # rtsp, rtp or udp
    host: str
    port: int
    path: str = ""  # rtsp only: the stream's name on the server
    user: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never the password
        who = f"{self.user}@" if self.user else ""
        return f"{self.scheme}://{who}{self.host}:{self.port}{self.path}"


def is_stream_url(text: str | None) -> bool:
    return text is not None and str(text).lower().startswith(tuple(f"{s}://" for s in SCHEMES))


def parse_stream_url(url: str, option: str = "--save") -> StreamTarget:
    """rtsp://[USER:PASS@]HOST[:PORT]/PATH, rtp://HOST:PORT or udp://HOST:PORT, checked; else one line."""
    wanted = f"{option} takes rtsp://HOST[:PORT]/PATH, rtp://HOST:PORT or udp://HOST:PORT"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise EdgesegError(f"{wanted}; the port of {url} is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if scheme not in SCHEMES or not _HOST.fullmatch(host):
        raise EdgesegError(f"{wanted}; got {url} (the host must be a name or an IPv4 address)")
    if scheme != "rtsp" and (port is None or parts.path not in ("", "/")):
        raise EdgesegError(f"{wanted}; {scheme}:// needs the receiver's port and no path, e.g. {scheme}://{host}:5000")
    if port == 0 or (parts.query or parts.fragment):
        raise EdgesegError(f"{wanted}; got {url}")
    if scheme == "rtsp" and (not _PATH.fullmatch(parts.path) or parts.path in ("", "/")):
        raise EdgesegError(
            f"{wanted}; the path names the stream on the server (letters, digits, . _ ~ - /), e.g. /edgeseg"
        )
    if scheme != "rtsp" and (parts.username or parts.password):
        raise EdgesegError(f"{wanted}; {scheme}:// takes no user or password (only rtsp:// does)")
    for name, value in (("user", parts.username), ("password", parts.password)):
        if value is not None and not _CREDENTIAL.fullmatch(value):
            raise EdgesegError(f"{wanted}; the {name} in an rtsp:// URL must be letters, digits, . _ ~ or -")
    return StreamTarget(scheme, host, port or RTSP_PORT, parts.path if scheme == "rtsp" else "",
                        parts.username, parts.password)  # fmt: skip


def encoder_stage(encoder: str, fps: float, bitrate_kbps: int = BITRATE_KBPS) -> str:
    """BGR frames from appsrc to an H.264 byte stream, a key frame every second (a player joins within one)."""
    gop = max(1, round(fps))
    if encoder == HARDWARE:  # Jetson's NVENC takes NV12 in NVMM memory: nvvidconv converts and copies there
        return (
            "videoconvert ! video/x-raw,format=BGRx ! nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! "
            f"nvv4l2h264enc bitrate={bitrate_kbps * 1000} control-rate=1 iframeinterval={gop} idrinterval={gop} "
            "insert-sps-pps=true maxperf-enable=true ! h264parse"
        )
    if encoder == SOFTWARE:
        return (
            "videoconvert ! video/x-raw,format=I420 ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate_kbps} key-int-max={gop} ! "
            "video/x-h264,profile=baseline ! h264parse config-interval=-1"
        )
    raise EdgesegError(f"unknown H.264 encoder {encoder!r}; edgeseg uses {HARDWARE} or {SOFTWARE}")


def sink_stage(target: StreamTarget) -> str:
    if target.scheme == "rtp":
        return (
            f"rtph264pay config-interval=1 pt=96 ! udpsink host={target.host} port={target.port} sync=false async=false"
        )
    if target.scheme == "udp":
        return f"mpegtsmux alignment=7 ! udpsink host={target.host} port={target.port} sync=false async=false"
    credentials = f" user-id={target.user} user-pw={target.password}" if target.user else ""
    location = f"rtsp://{target.host}:{target.port}{target.path}"
    return f"rtspclientsink location={location} protocols=tcp latency=0{credentials}"


def stream_pipeline(target: StreamTarget, encoder: str, fps: float, bitrate_kbps: int = BITRATE_KBPS) -> str:
    """The whole pipeline OpenCV's VideoWriter opens (it feeds `appsrc` BGR frames of the first frame's size)."""
    return f"appsrc ! {encoder_stage(encoder, fps, bitrate_kbps)} ! {sink_stage(target)}"


def gst_element_exists(name: str) -> bool | None:
    """Whether GStreamer has the element `name` here; None where gst-inspect-1.0 is not installed to ask."""
    inspect = shutil.which("gst-inspect-1.0")
    if inspect is None:
        return None
    try:
        done = subprocess.run([inspect, "--exists", name], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode == 0


def pick_encoder(exists: Callable[[str], bool | None] = gst_element_exists, jetson: bool | None = None) -> str:
    """The Jetson's hardware encoder where it is there, else x264enc; one line when neither is."""
    jetson = jetson_release() is not None if jetson is None else jetson
    hardware, software = exists(HARDWARE), exists(SOFTWARE)
    if hardware or (hardware is None and jetson):
        return HARDWARE
    if software or software is None:
        return SOFTWARE
    where = " (this Jetson has no hardware encoder: the Orin Nano has none)" if jetson else ""
    raise EdgesegError(
        f"no H.264 encoder in GStreamer here{where}: sudo apt-get install gstreamer1.0-plugins-ugly (x264enc)"
    )
