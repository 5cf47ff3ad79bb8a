"""Hostile options for the live page (`--serve`, `--serve-token`, `--serve-fps`) and the network stream (`--save
rtsp:// rtp:// udp://`): each is refused in one line before the model loads and the source opens.

A port in use needs a socket held open during the case, which the sweep does not make: tests/runtime/test_serve.py
covers it (and that the camera is never opened).
"""

from __future__ import annotations

from typing import Any

IMAGES = "{data}/VOCdevkit/VOC2012/JPEGImages"
RUN = ["run", "--model", "{onnx}", "--source", IMAGES, "--no-show", "--max-frames", "2"]
TOKEN = "a-good-t0ken"
CASES: list[dict[str, Any]] = []


def _add(name: str, extra: list[str], expect: str, base: list[str] = RUN) -> None:
    CASES.append({"name": f"serve/{name}", "args": [*base, *extra], "expect": expect})


_add("port-not-a-number", ["--serve", "http"], "--serve takes [HOST:]PORT")
_add("port-out-of-range", ["--serve", "70000"], "the port must be a number from 0 to 65535")
_add("port-negative", ["--serve", "127.0.0.1:-1"], "the port must be a number from 0 to 65535")
_add("empty-host", ["--serve", ":8080"], "no host before the colon")
_add("url-instead-of-address", ["--serve", "http://0.0.0.0:8080"], "--serve takes [HOST:]PORT")
_add("unresolvable-host", ["--serve", "no-such-host.invalid:8080"], "cannot resolve the host")
_add("host-not-this-machine", ["--serve", "192.0.2.1:8080"], "192.0.2.1 is not an address of this machine")
_add("ipv6-not-this-machine", ["--serve", "[2001:db8::1]:8080"], "is not an address of this machine")
_add("token-too-short", ["--serve", "0", "--serve-token", "abc"], "--serve-token must be at least 8 characters")
_add("token-empty", ["--serve", "0", "--serve-token", ""], "--serve-token must be at least 8 characters")
_add("token-with-spaces", ["--serve", "0", "--serve-token", "two words!"], "--serve-token must be at least 8")
_add("token-without-serve", ["--serve-token", TOKEN], "--serve-token and --serve-fps go with --serve")
_add("fps-without-serve", ["--serve-fps", "5"], "--serve-token and --serve-fps go with --serve")
_add("fps-zero", ["--serve", "0", "--serve-fps", "0"], "--serve-fps must be a number > 0 and ≤ 120")
_add("fps-negative", ["--serve", "0", "--serve-fps", "-5"], "--serve-fps must be a number > 0")
_add("fps-too-high", ["--serve", "0", "--serve-fps", "1000"], "--serve-fps must be a number > 0 and ≤ 120")
_add("fps-not-a-number", ["--serve", "0", "--serve-fps", "fast"], "'--serve-fps'")
# The page binds, then the source is missing: the run still ends in one line, after the network warning.
_add(
    "served-missing-source",
    ["--serve", "0.0.0.0:0"],
    "source not found",
    base=["run", "--model", "{onnx}", "--source", "{tmp}/missing.mp4", "--no-show"],
)

# --save to another machine: what would change the GStreamer pipeline is refused, and pip's OpenCV has none.
_add("stream-rtp-without-port", ["--save", "rtp://127.0.0.1"], "rtp:// needs the receiver's port")
_add("stream-udp-with-path", ["--save", "udp://127.0.0.1:5000/x"], "needs the receiver's port and no path")
_add("stream-udp-port-out-of-range", ["--save", "udp://127.0.0.1:70000"], "is not a number from 1 to 65535")
_add("stream-rtsp-without-path", ["--save", "rtsp://127.0.0.1:8554"], "the path names the stream on the server")
_add("stream-host-injects-element", ["--save", "rtp://a!filesink:5000"], "the host must be a name or an IPv4")
_add("stream-path-injects-element", ["--save", "rtsp://host/x ! filesink"], "the path names the stream")
_add("stream-credentials-on-rtp", ["--save", "rtp://me:pw@host:5000"], "takes no user or password")
_add("stream-query", ["--save", "udp://host:5000?ttl=4"], "--save takes rtsp://")
_add("stream-without-gstreamer", ["--save", "udp://127.0.0.1:5000"], "streaming needs GStreamer")
