"""`edgeseg run --serve`: the real command serving a real camera stream, read over HTTP as a browser would.

The camera is tests/runtime/mjpeg_camera.py's MJPEG stream (a real network camera protocol, read by OpenCV's
FFmpeg backend); the model is the tiny trained ONNX file; the server is the one the command starts.
"""

from __future__ import annotations

import json
import socket
import time

import cv2
import numpy as np
import pytest

from edgeseg.runtime.backends import open_model

from .mjpeg_camera import MjpegCamera, Session
from .served_run import MjpegReader, ServedRun

SIZE = (72, 96)  # the camera's frames, height × width
TOKEN = "s3cret-t0ken"


@pytest.fixture
def camera():
    with MjpegCamera([Session(100_000, fps=30)], size=SIZE) as running:
        yield running


def _json(run: ServedRun, path: str) -> dict:
    status, headers, body = run.get(run.path_with_token(path))
    assert status == 200 and headers["Content-Type"] == "application/json", body
    return json.loads(body)


def test_every_route_answers_and_the_run_goes_on(tiny_onnx, camera):
    with open_model(tiny_onnx) as backend:
        names = backend.metadata.class_names
    with ServedRun(tiny_onnx, camera.url) as run:
        status, headers, body = run.get("/")
        page = body.decode()
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "script-src 'sha256-" in headers["Content-Security-Policy"]
        assert all(f"</span>{name}" in page for name in names)  # the legend, in the model's own names
        assert 'src="stream.mjpg?stream=0&amp;view=overlay"' in page

        stream = MjpegReader(run)
        assert stream.status == 200 and stream.content_type.startswith("multipart/x-mixed-replace; boundary=")
        frames = [stream.frame() for _ in range(3)]
        assert all(f.shape == (*SIZE, 3) for f in frames)
        side = MjpegReader(run, "/stream.mjpg?view=side")
        assert side.frame().shape == (SIZE[0], 2 * SIZE[1], 3)  # the camera's frame beside the overlay
        stream.close()
        side.close()

        status, headers, body = run.get("/snapshot.jpg?view=mask")
        mask_view = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and mask_view.shape == (*SIZE, 3)

        stats = _json(run, "/stats.json")
        assert stats["frames"] > 0 and stats["model"] == str(tiny_onnx) and stats["backend"] == "OnnxRuntimeBackend"
        assert {"capture", "infer", "end_to_end"} <= set(stats["stages"]) and stats["fps_now"] > 0
        classes = stats["streams"][0]["classes"]
        assert [c["name"] for c in classes] == names and sum(c["share"] for c in classes) == pytest.approx(1, abs=1e-3)
        assert stats["outputs"]["page"]["live"] is True and stats["page"]["serve_fps"] == 15
        assert _json(run, "/healthz")["ok"] is True

        for path, code in (("/stream.mjpg?view=fisheye", 400), ("/snapshot.jpg?stream=3", 400), ("/etc/passwd", 404)):
            assert run.get(path)[0] == code, path
        assert run.get("/", {"Host": "attacker.example:80"})[0] == 403  # DNS rebinding onto a loopback page
        later = run.wait_for(lambda s: s["frames"] > stats["frames"] + 10, what="frames after the requests")
        returncode, stdout, stderr = run.finish()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr and "output page: wrote" in stdout
    assert later["dropped"] + later["frames"] + later["unreadable"] <= later["read"]


def test_a_second_client_and_a_killed_client(tiny_onnx, camera):
    with ServedRun(tiny_onnx, camera.url, "--serve-fps", "10") as run:
        first, second = MjpegReader(run), MjpegReader(run, "/stream.mjpg?view=mask")
        first.frame(), second.frame()
        both = run.wait_for(lambda s: s["page"]["viewers"] == 2, what="two viewers")
        second.reset()  # killed mid-stream: the server finds out at its next write, or within half a second
        run.wait_for(lambda s: s["page"]["viewers"] == 1, timeout=15, what="the killed client's slot freed")
        stalled = MjpegReader(run)  # connects, then never reads again: its socket fills, it gets fewer frames
        started = time.monotonic()
        frames = [first.frame() for _ in range(10)]  # the first client is not held back by either
        took = time.monotonic() - started
        assert len(frames) == 10 and took < 5, f"10 frames at --serve-fps 10 took {took:.1f} s"
        stalled.close()
        first.close()
        after = run.wait_for(lambda s: s["page"]["viewers"] == 0, timeout=15, what="every slot freed")
        assert after["frames"] > both["frames"] and after["error"] is None
        returncode, _, stderr = run.finish()
    assert returncode == 0 and "Traceback" not in stderr, stderr


def test_a_token_protects_every_route(tiny_onnx, camera):
    with ServedRun(tiny_onnx, camera.url, "--serve-token", TOKEN) as run:
        assert "?token=<your --serve-token>" in run.stdout[-1] and TOKEN not in "".join(run.stdout)
        for path in ("/", "/stream.mjpg", "/snapshot.jpg", "/stats.json", "/healthz", "/nothing"):
            status, headers, body = run.get(path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), (path, status)
            assert run.get(f"{path}?token=wrong-t0ken")[0] == 401
        assert run.get(f"/healthz?token={TOKEN}")[0] == 200
        assert run.get("/healthz", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert run.get("/healthz", {"X-Edgeseg-Token": TOKEN})[0] == 200
        status, _, body = run.get(f"/?token={TOKEN}")
        assert status == 200 and f"stream.mjpg?stream=0&amp;view=overlay&amp;token={TOKEN}" in body.decode()
        run.token = TOKEN
        assert MjpegReader(run).frame().shape == (*SIZE, 3)
        assert run.finish()[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serve", "no-such-host.invalid:8080"], "cannot resolve the host 'no-such-host.invalid'"),
        (["--serve", "192.0.2.1:8080"], "192.0.2.1 is not an address of this machine"),
        (["--serve", "8080", "--serve-token", "short"], "--serve-token must be at least 8 characters"),
        (["--save", "rtp://127.0.0.1:5000"], "streaming needs GStreamer"),
    ],
)
def test_bad_starts_fail_before_the_camera_opens(run_edgeseg, tiny_onnx, args, message):
    # More bad values, each through the real command: benchmarks/bad_inputs/cases_serve.py.
    with MjpegCamera([Session(10)]) as camera:
        result = run_edgeseg("run", "--model", tiny_onnx, "--source", camera.url, "--no-show", *args)
        assert camera.connections == 0, "the camera was opened before the bad option was found"
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr


def test_a_port_in_use_fails_before_the_camera_opens(run_edgeseg, tiny_onnx):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with MjpegCamera([Session(10)]) as camera:
            result = run_edgeseg("run", "--model", tiny_onnx, "--source", camera.url, "--no-show", "--serve", str(port))
            assert camera.connections == 0
    finally:
        taken.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --serve 127.0.0.1:{port}: port {port} is in use (another edgeseg run or server?); "
        "pass another port, or 0 for any free one"
    )


def test_a_token_in_the_environment_is_kept_for_runs_that_serve(run_edgeseg, tiny_onnx, tiny_video, monkeypatch):
    monkeypatch.setenv("EDGESEG_SERVE_TOKEN", TOKEN)  # exported once in a shell profile: other runs still work
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--max-frames", "2")
    assert result.returncode == 0, result.stderr


def test_every_network_bind_says_the_stream_is_visible(tiny_onnx, tiny_video, tmp_path):
    # Beside a lossless output too: the page is one more output of the same run.
    with ServedRun(tiny_onnx, str(tiny_video), "--save", str(tmp_path / "out.avi"), serve="0.0.0.0:0") as run:
        returncode, stdout, stderr = run.finish(sig=None)  # the video's end ends the run
    assert returncode == 0, stderr
    assert "the live stream is visible on the network" in stderr and "add --serve-token" in stderr
    assert "saved 40 frames" in stdout and (tmp_path / "out.avi").is_file()
