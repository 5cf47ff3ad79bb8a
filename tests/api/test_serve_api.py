"""`seg.serve(source, port=…)`: the live page from Python, for programs that embed edgeseg.

A real server on 127.0.0.1 and a real network camera (tests/runtime/mjpeg_camera.py); the call blocks in its own
thread here, as it would in a program's worker thread, and is stopped with an Event.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request

import pytest

import edgeseg
from edgeseg.errors import EdgesegError

from ..runtime.mjpeg_camera import MjpegCamera, Session


def test_serve_blocks_until_stopped_and_returns_the_stats(tiny_onnx):
    urls: list[str] = []
    stop, result = threading.Event(), {}
    with MjpegCamera([Session(100_000, fps=30)]) as camera, edgeseg.load(tiny_onnx) as seg:

        def serve() -> None:
            result["stats"] = seg.serve(camera.url, port=0, token="api-t0ken", stop=stop, on_ready=urls.append)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            for _ in range(300):
                if urls:
                    break
                thread.join(0.1)
            url = urls[0]
            request = urllib.request.Request(url + "stats.json", headers={"Authorization": "Bearer api-t0ken"})
            for _ in range(300):  # until a frame went through
                live = json.loads(urllib.request.urlopen(request, timeout=10).read())
                if live["frames"] > 3:
                    break
                thread.join(0.1)
            assert live["model"] == tiny_onnx.name and live["streams"][0]["frame"] is not None
        finally:
            stop.set()
            thread.join(30)
    assert not thread.is_alive(), "serve() did not return after stop was set"
    stats = result["stats"]
    assert stats.frames >= live["frames"] > 3 and stats.error is None
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.socket() as again:  # the page closed with the run: a new server can listen there at once
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as edgeseg's does (connections in TIME_WAIT)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_serve_a_file_to_its_end(tiny_onnx, tiny_video):
    with edgeseg.load(tiny_onnx) as seg:
        stats = seg.serve(str(tiny_video), port=0, view="side", max_frames=12)
    assert stats.frames == 12 and stats.consumers["page"].failed is None


def test_a_port_in_use_fails_before_the_source_opens(tiny_onnx):
    with socket.socket() as taken, MjpegCamera([Session(5)]) as camera, edgeseg.load(tiny_onnx) as seg:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EdgesegError, match=f"port {port} is in use"):
            seg.serve(camera.url, port=port)
        with pytest.raises(EdgesegError, match="port must be a whole number from 0 to 65535"):
            seg.serve(camera.url, port=70000)
        with pytest.raises(EdgesegError, match="fps must be a number > 0 and ≤ 120, got 0"):
            seg.serve(camera.url, port=0, fps=0)
        with pytest.raises(EdgesegError, match="view must be one of overlay, mask, side"):
            seg.serve(camera.url, view="thermal")
        assert camera.connections == 0
