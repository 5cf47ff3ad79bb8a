"""--save rtsp:// / rtp:// / udp://: the URLs, the GStreamer pipelines, and those pipelines run in real GStreamer.

pip's OpenCV has no GStreamer, so here the pipelines run through gst-launch-1.0 with `videotestsrc` where OpenCV's
`appsrc` stands (the rest of the text is the very string edgeseg hands OpenCV) and are received as another
machine would: MPEG-TS over UDP and RTP (with an SDP file) by OpenCV's FFmpeg, RTSP by an RTSP server in record
mode (gst-rtsp-server). The Jetson's nvv4l2h264enc cannot run here; its string is checked, not run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import cv2
import pytest

from edgeseg.errors import EdgesegError
from edgeseg.runtime.doctor import OK, WARN, check_stream_encoders
from edgeseg.runtime.sources import has_gstreamer
from edgeseg.runtime.stream_url import HARDWARE, SOFTWARE, parse_stream_url, pick_encoder, stream_pipeline

GST_LAUNCH = shutil.which("gst-launch-1.0")
SIZE = (240, 320)
HEIGHT, WIDTH = SIZE
TEST_SOURCE = (
    f"videotestsrc is-live=true num-buffers=300 ! video/x-raw,format=BGR,width={WIDTH},height={HEIGHT},framerate=30/1"
)
RTSP_SERVER = Path(__file__).with_name("rtsp_record_server.py")


def test_pipeline_strings():
    udp, rtp = parse_stream_url("udp://192.168.1.20:5600"), parse_stream_url("rtp://laptop.local:5000")
    rtsp = parse_stream_url("rtsp://robot:pass-1@10.0.0.2:8554/cam/front")
    software = (
        "appsrc ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast "
        "bitrate=4000 key-int-max=30 ! video/x-h264,profile=baseline ! h264parse config-interval=-1 ! "
    )
    assert stream_pipeline(udp, SOFTWARE, 30) == software + (
        "mpegtsmux alignment=7 ! udpsink host=192.168.1.20 port=5600 sync=false async=false"
    )
    assert stream_pipeline(rtp, SOFTWARE, 30.0).endswith(
        "rtph264pay config-interval=1 pt=96 ! udpsink host=laptop.local port=5000 sync=false async=false"
    )
    assert stream_pipeline(rtsp, HARDWARE, 25) == (
        "appsrc ! videoconvert ! video/x-raw,format=BGRx ! nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! "
        "nvv4l2h264enc bitrate=4000000 control-rate=1 iframeinterval=25 idrinterval=25 insert-sps-pps=true "
        "maxperf-enable=true ! h264parse ! rtspclientsink location=rtsp://10.0.0.2:8554/cam/front protocols=tcp "
        "latency=0 user-id=robot user-pw=pass-1"
    )
    assert str(rtsp) == "rtsp://robot@10.0.0.2:8554/cam/front"  # what messages print: never the password
    assert parse_stream_url("rtsp://mediamtx/edgeseg").port == 554


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtp://127.0.0.1", "rtp:// needs the receiver's port"),
        ("udp://127.0.0.1:5000/path", "udp:// needs the receiver's port and no path"),
        ("udp://127.0.0.1:99999", "is not a number from 1 to 65535"),
        ("rtsp://127.0.0.1:8554", "the path names the stream on the server"),
        ("rtsp://host/a b", "the path names the stream"),
        ("rtp://host!fakesink:5000", "the host must be a name or an IPv4 address"),
        ("udp://host%20x:5000", "the host must be"),
        ("rtsp://u:p'x@host/x", "the password in an rtsp:// URL must be letters"),
        ("rtp://user@host:5000", "rtp:// takes no user or password"),
        ("rtp://host:5000?bitrate=1", "--save takes"),
    ],
)
def test_urls_that_would_change_the_pipeline_are_refused(url, message):
    with pytest.raises(EdgesegError, match="--save takes") as caught:
        parse_stream_url(url)
    assert message in str(caught.value)


def test_the_encoder_is_the_jetsons_where_it_has_one():
    def have(*names):
        return lambda name: name in names

    assert pick_encoder(have(HARDWARE, SOFTWARE), jetson=True) == HARDWARE
    assert pick_encoder(have(SOFTWARE), jetson=True) == SOFTWARE  # the Orin Nano: no NVENC
    assert pick_encoder(lambda name: None, jetson=True) == HARDWARE  # no gst-inspect-1.0 to ask: JetPack's
    assert pick_encoder(lambda name: None, jetson=False) == SOFTWARE
    with pytest.raises(
        EdgesegError, match=r"no H\.264 encoder in GStreamer here .*Orin Nano.*gstreamer1\.0-plugins-ugly"
    ):
        pick_encoder(have(), jetson=True)


def test_doctor_lists_the_encoders(monkeypatch):
    from edgeseg.runtime import doctor

    row = check_stream_encoders(None, lambda name: name == SOFTWARE)
    if has_gstreamer():  # JetPack's OpenCV
        assert row.status == OK and row.found.startswith("x264enc; OpenCV GStreamer YES")
    else:  # pip's: the row says what the option needs
        assert row.found == "x264enc; OpenCV without GStreamer" and "OpenCV built with GStreamer" in row.hint
    monkeypatch.setattr(doctor, "_opencv_gstreamer", lambda: "YES (1.20.3)")
    row = check_stream_encoders(None, lambda name: True)
    assert (row.status, row.found) == (OK, "nvv4l2h264enc (hardware), x264enc; OpenCV GStreamer YES (1.20.3)")
    row = check_stream_encoders(None, lambda name: False)
    assert row.status == WARN and "gstreamer1.0-plugins-ugly" in row.hint
    assert "unknown (no gst-inspect-1.0)" in check_stream_encoders(None, lambda name: None).found


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _send(url: str) -> subprocess.Popen:
    """gst-launch-1.0 running edgeseg's pipeline for `url`, test frames where OpenCV's appsrc would be."""
    pipeline = stream_pipeline(parse_stream_url(url), SOFTWARE, 30).replace("appsrc", TEST_SOURCE, 1)
    assert pipeline.startswith("videotestsrc")
    return subprocess.Popen([GST_LAUNCH, "-q", *pipeline.split()], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _receive(source: str, frames: int = 10) -> list:
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000]
    capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG, timeouts)
    assert capture.isOpened(), f"FFmpeg could not open {source}"
    got = []
    while len(got) < frames:
        ok, image = capture.read()
        assert ok, "the stream stopped"
        got.append(image)
    capture.release()
    return got


needs_gstreamer = pytest.mark.skipif(
    GST_LAUNCH is None or not shutil.which("gst-inspect-1.0")
    or subprocess.run(["gst-inspect-1.0", "--exists", "x264enc"]).returncode != 0,
    reason="needs gst-launch-1.0 and x264enc (gstreamer1.0-tools, -plugins-good/-bad/-ugly; .ci/run installs them)",
)  # fmt: skip


@needs_gstreamer
def test_udp_mpeg_ts_plays_in_ffmpeg():
    port = _free_port()
    sender = _send(f"udp://127.0.0.1:{port}")
    try:
        frames = _receive(f"udp://127.0.0.1:{port}")
    finally:
        sender.kill()
        sender.wait()
    assert all(f.shape == (*SIZE, 3) for f in frames)


@needs_gstreamer
def test_rtp_plays_in_ffmpeg_with_an_sdp_file(tmp_path, monkeypatch):
    port = _free_port()
    sdp = tmp_path / "edgeseg.sdp"  # what docs/jetson.md tells the receiving machine to write
    sdp.write_text(
        f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=edgeseg\nc=IN IP4 127.0.0.1\nt=0 0\nm=video {port} RTP/AVP 96\n"
        "a=rtpmap:96 H264/90000\n"
    )
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "protocol_whitelist;file,rtp,udp")
    sender = _send(f"rtp://127.0.0.1:{port}")
    try:
        frames = _receive(str(sdp))
    finally:
        sender.kill()
        sender.wait()
    assert all(f.shape == (*SIZE, 3) for f in frames)


def _rtsp_server_runs() -> bool:
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True).returncode == 0


@needs_gstreamer
@pytest.mark.skipif(
    not Path("/usr/bin/python3").exists() or not _rtsp_server_runs(),
    reason="needs the system Python with gst-rtsp-server's bindings (python3-gi, gir1.2-gst-rtsp-server-1.0)",
)
def test_rtsp_publishes_to_a_server(tmp_path):
    port = _free_port(socket.SOCK_STREAM)
    server = subprocess.Popen(
        ["/usr/bin/python3", str(RTSP_SERVER), str(port), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        sender = _send(f"rtsp://127.0.0.1:{port}/edgeseg")
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("*.jpg"))) < 30:  # frames the server received and decoded
            assert sender.poll() is None, sender.communicate()
            assert time.monotonic() < deadline, "the RTSP server received no frames"
            time.sleep(0.1)
        sender.kill()
        sender.wait()
    finally:
        server.kill()
        server.wait()
    first = cv2.imread(str(sorted(tmp_path.glob("*.jpg"))[0]))
    assert first.shape == (*SIZE, 3)


@pytest.mark.skipif(not has_gstreamer(), reason="needs an OpenCV with GStreamer (JetPack's); pip's has none")
def test_stream_output_on_an_opencv_with_gstreamer():
    # Runs on a Jetson (JetPack's OpenCV): the real StreamOutput to a UDP port, read back by OpenCV.
    import numpy as np

    from edgeseg.runtime.record import FrameRecord
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.stream_out import StreamOutput

    port = _free_port()
    output = StreamOutput(f"udp://127.0.0.1:{port}", 30)
    renderer = Renderer(["a", "b"], [[0, 0, 0], [255, 0, 0]])
    started = time.perf_counter()

    def feed() -> None:
        for i in range(300):
            image = np.full((*SIZE, 3), i % 256, np.uint8)
            output.write(FrameRecord(0, i, str(i), started + i / 30, 0, image, np.zeros(SIZE, np.uint8), {}, renderer))
            time.sleep(1 / 30)

    import threading

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    frames = _receive(f"udp://127.0.0.1:{port}")
    thread.join()
    output.close()
    assert all(f.shape == (*SIZE, 3) for f in frames)


def test_without_gstreamer_the_option_says_what_to_install(run_edgeseg, tiny_onnx, tiny_video):
    if has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    result = run_edgeseg(
        "run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--save", "udp://127.0.0.1:5000"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --save udp://127.0.0.1:5000: streaming needs GStreamer, and this OpenCV has no GStreamer (pip's "
        "opencv-python never has); on a Jetson use JetPack's OpenCV: `pip uninstall opencv-python` in a venv made "
        "with --system-site-packages (see docs/jetson.md)"
    )
