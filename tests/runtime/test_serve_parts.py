"""The page's parts on their own: what is encoded when, each viewer's one-frame slot, a stalled connection, the
address and token checks, and the page's escaping. A real server on 127.0.0.1 where one is needed."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from edgeseg.errors import EdgesegError
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.web import open_page
from edgeseg.runtime.web import server as web_server
from edgeseg.runtime.web.address import check_token, parse_serve
from edgeseg.runtime.web.hub import FrameHub
from edgeseg.runtime.web.page import render_page
from edgeseg.runtime.web.server import _loopback_host

NAMES, PALETTE = ["background", "person", "car"], [[0, 0, 0], [220, 20, 60], [0, 0, 142]]
RENDERER = Renderer(NAMES, PALETTE)


def record(index: int, size=(48, 64), stream: int = 0, noise: bool = False) -> FrameRecord:
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, (*size, 3), np.uint8) if noise else np.full((*size, 3), index % 256, np.uint8)
    mask = np.zeros(size, np.uint8)
    mask[:, : size[1] // 4] = 1  # a quarter person, the rest background
    return FrameRecord(stream, index, str(index), time.perf_counter(), time.time(), image, mask, {}, RENDERER)


def test_nothing_is_drawn_or_encoded_while_no_one_watches():
    hub = FrameHub(len(NAMES), fps=1000)
    records = [record(i) for i in range(50)]
    for r in records:
        hub.publish(r)
    assert hub.encoded == 0 and all(not r._drawn for r in records)
    assert hub.class_shares(0) == pytest.approx([0.75, 0.25, 0.0])  # the numbers still come from the newest frame


def test_encoding_is_capped_at_fps_and_shared_by_the_viewers_of_a_view():
    hub = FrameHub(len(NAMES), fps=10)
    viewers = [hub.add_viewer(0, "overlay") for _ in range(4)]
    mask_viewer = hub.add_viewer(0, "mask")
    started, index = time.monotonic(), 0
    while time.monotonic() - started < 1.0:  # a run at ~500 FPS
        hub.publish(record(index))
        index += 1
        time.sleep(0.002)
    per_view = hub.encoded / 2
    assert index > 100 and 5 <= per_view <= 12, f"{hub.encoded} JPEGs for {index} frames at --serve-fps 10"
    got = [v.take(0) for v in viewers]
    assert got[0] is not None and all(jpeg is got[0] for jpeg in got)  # one encoding, the same bytes for all four
    assert mask_viewer.take(0) is not got[0]
    assert all(v.skipped > 0 for v in viewers)  # nobody took frames: each slot kept only the newest


def test_a_viewer_that_never_takes_holds_one_frame_and_never_blocks_publishing():
    hub = FrameHub(len(NAMES), fps=1000)
    idle = hub.add_viewer(0, "overlay")
    for i in range(200):
        hub.publish(record(i))
        time.sleep(0.001)
    assert idle.skipped == hub.encoded - 1  # every frame but the newest was replaced in its one slot
    hub.remove_viewer(idle)
    assert hub.viewers() == 0 and idle.take(0) is None


def test_a_stalled_connection_is_dropped_and_the_others_keep_their_frames(monkeypatch):
    monkeypatch.setattr(web_server._Handler, "timeout", 1.0)  # the real 10 s, shortened for the test
    page = open_page("127.0.0.1:0", fps=100)
    page.start(class_names=NAMES, palette=PALETTE)
    output, stop = page.output(), threading.Event()

    def run() -> None:  # the run's side: 640×480 noise, ~200 KB a JPEG, so a socket nobody reads fills fast
        index = 0
        while not stop.is_set():
            output.write(record(index, (480, 640), noise=True))
            index += 1
            time.sleep(0.005)

    def connect() -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", page.port))
        sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{page.port}\r\n\r\n".encode())
        return sock

    runner = threading.Thread(target=run)
    runner.start()
    try:
        stalled, reading = connect(), connect()
        reading.settimeout(10)
        deadline = time.monotonic() + 20
        received = 0
        while page.hub.viewers() < 2:  # both connections are being served
            received += len(reading.recv(1 << 16))
            assert time.monotonic() < deadline, "the two connections were never both served"
        while page.hub.viewers() == 2:  # the stalled one is let go after its write times out
            received += len(reading.recv(1 << 16))
            assert time.monotonic() < deadline, "the stalled connection was never dropped"
        before = received
        while received < before + 1_000_000:  # the reader still gets frames (megabytes of them) afterwards
            received += len(reading.recv(1 << 16))
        assert page.hub.viewers() == 1
        stalled.close()
        reading.close()
    finally:
        stop.set()
        runner.join()
        output.close()
    assert page.hub.closed and page.hub.viewers() == 0


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("8080", "127.0.0.1", 8080),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("[::1]:0", "::1", 0),
        ("localhost:9", "localhost", 9),
    ],
)
def test_serve_addresses(text, host, port):
    address = parse_serve(text)
    assert (address.host, address.port) == (host, port)
    assert address.everywhere == (host == "0.0.0.0")


@pytest.mark.parametrize("text", ["", "abc", "70000", "-1", ":8080", "host:", "1:2:3", "[::1]8080"])
def test_bad_serve_addresses(text):
    with pytest.raises(EdgesegError, match="--serve takes"):
        parse_serve(text)


@pytest.mark.parametrize("token", ["short", "has space x", 'quote"quote', "ümlautümlaut", ""])
def test_tokens_that_cannot_work_are_refused(token):
    with pytest.raises(EdgesegError, match="--serve-token must be at least 8 characters"):
        check_token(token)
    assert check_token("A-b.c_d~12") == "A-b.c_d~12"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost:8080", True), ("127.0.0.1:8080", True), ("[::1]:8080", True), ("127.0.0.1", True),
     ("evil.example:8080", False), ("192.168.1.5:8080", False), ("", False), ("localhost.evil.example", False)],
)  # fmt: skip
def test_a_loopback_page_answers_only_to_loopback_host_names(host, loopback):
    assert _loopback_host(host) is loopback


def test_the_page_escapes_what_comes_from_outside():
    html = render_page(
        class_names=["<script>alert(1)</script>", "a&b"],
        palette=[[0, 0, 0], [1, 2, 3]],
        drawn=[False, True],
        streams=2,
        view="mask",
        token="tok-en.123",
        about='model "x" <b>',
    )
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a&amp;b" in html
    assert "model &quot;x&quot; &lt;b&gt;" in html and "#010203" in html
    assert 'src="stream.mjpg?stream=1&amp;view=mask&amp;token=tok-en.123"' in html  # one image per stream
    assert html.count("<script>") == 1
