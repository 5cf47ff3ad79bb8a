"""`edgeseg run --serve`: the live page, its MJPEG streams and its numbers over the standard library's HTTP server.

    /              the page: the video, the class legend with the model's palette, live numbers
    /stream.mjpg   MJPEG (multipart/x-mixed-replace) of ?stream=N (0) in ?view=overlay|mask|side
    /snapshot.jpg  the newest frame of ?stream=N in ?view=…, as one JPEG
    /stats.json    the run's statistics as --stats-json writes them, live, with each class's share of the frame
    /healthz       200 while the run goes on

Security (docs/jetson.md, "Watch it in a browser"): the socket binds 127.0.0.1 unless a host is given; with a
token, every route needs it (`?token=`, `Authorization: Bearer`, or `X-Edgeseg-Token`), compared in constant
time; bound to loopback, requests that name another host are refused (a web page cannot reach the stream
through DNS rebinding); nothing is read from disk; each connection times out when the client stops reading.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import select
import socket
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from edgeseg.errors import EdgesegError, describe
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.stats import RunStats
from edgeseg.runtime.web.address import ServeAddress, bind_error, resolve
from edgeseg.runtime.web.hub import FrameHub, Viewer
from edgeseg.runtime.web.page import CSP, hex_colour, render_page

CLIENT_TIMEOUT_S = 10.0  # a client that reads nothing for this long is dropped: its thread and socket are freed
_WAIT_S = 0.5  # how often an idle stream checks that its client is still there and the run still going
BOUNDARY = "edgeseg-frame"
_COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token may be in the URL: never hand it on
}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a connection stuck in a write never keeps edgeseg from exiting
    allow_reuse_address = True  # a restarted run gets its port back at once (TIME_WAIT), never a port in use

    def __init__(self, family: socket.AddressFamily, address: tuple, page: PageServer) -> None:
        self.address_family = family
        self.page = page
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # a client that went away mid-answer: its business, not an error
            return
        self.page.warn(f"warning: the page's server failed on a request ({describe(error)}); it goes on serving")


class PageServer:
    """The HTTP server of one run: bound at once (so a bad address fails before the camera opens), serving once
    `start` gives it the model's classes, fed by `output()` (a live output of the run loop)."""

    def __init__(
        self,
        address: ServeAddress,
        *,
        token: str | None = None,
        fps: float = 15.0,
        option: str = "--serve",
        warn: Callable[[str], None] = _stderr,
    ) -> None:
        self.address, self.token, self.fps, self.warn = address, token, fps, warn
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 120:
            raise EdgesegError(f"{option}-fps must be a number > 0 and ≤ 120, got {fps!r}")
        family, sockaddr = resolve(address, option)
        try:
            self._http = _HttpServer(family, sockaddr, self)
        except OSError as exc:
            raise bind_error(address, exc, option) from exc
        self.port: int = self._http.server_address[1]
        self.loopback = not address.everywhere
        self.hub: FrameHub | None = None
        self.stats: RunStats | None = None
        self.about: dict[str, Any] = {}
        self._page_facts: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where to open the page: this machine's name for an address every network reaches."""
        host = socket.gethostname() if self.address.host in ("0.0.0.0", "::") else self.address.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(
        self,
        *,
        class_names: Sequence[str],
        palette: Sequence[Sequence[int]],
        drawn: Sequence[bool] | None = None,
        streams: int = 1,
        about: dict[str, Any] | None = None,
    ) -> None:
        """Serve from now on (requests that came before waited in the socket's queue)."""
        self.hub = FrameHub(len(class_names), self.fps, streams)
        self.about = dict(about or {})
        self._page_facts = {
            "class_names": list(class_names),
            "palette": [list(map(int, c)) for c in palette],
            "drawn": list(drawn) if drawn is not None else [i > 0 for i in range(len(class_names))],
            "streams": streams,
        }
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.2,), name="page server", daemon=True)
        self._thread.start()

    def watch(self, stats: RunStats) -> None:
        """Report these statistics (the run loop's) on /stats.json and the page."""
        self.stats = stats

    def output(self) -> PageOutput:
        """The live output to give the run loop: it publishes each record to the viewers."""
        return PageOutput(self)

    def stats_document(self) -> dict[str, Any]:
        """What /stats.json answers: RunStats.summary() as --stats-json writes it, plus the live view of it."""
        stats = self.stats or RunStats()
        hub = self.hub
        assert hub is not None
        facts = self._page_facts
        streams = []
        for stream in range(hub.streams):
            shares = hub.class_shares(stream) or [None] * hub.num_classes
            classes = [
                {"name": name, "colour": hex_colour(colour), "drawn": drawn, "share": share and round(share, 5)}
                for name, colour, drawn, share in zip(facts["class_names"], facts["palette"], facts["drawn"], shares)
            ]
            streams.append({"stream": stream, "frame": hub.frame_index(stream), "classes": classes})
        return {
            **stats.summary(),
            **self.about,
            "fps_now": round(stats.current_fps(), 2),
            "page": {"viewers": hub.viewers(), "serve_fps": self.fps, "encoded": hub.encoded},
            "streams": streams,
        }

    def page(self, view: str, token: str | None) -> str:
        about = self.about
        text = " · ".join(
            str(part)
            for part in (about.get("model"), about.get("backend"), "×".join(map(str, about.get("input_size") or [])))
            if part
        )
        return render_page(view=view, token=token, about=text, **self._page_facts)

    def close(self) -> None:
        """End every stream, stop serving and free the port; safe to call twice and from any thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self.hub is not None:
            self.hub.close()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(2.0)
        self._http.server_close()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PageOutput:
    """The page as an output of the run loop: live (on its own thread, newest frame only, never holding it back)."""

    name, live = "page", True

    def __init__(self, server: PageServer) -> None:
        self.server = server

    def write(self, record: FrameRecord) -> None:
        assert self.server.hub is not None, "PageServer.start() comes before the run"
        self.server.hub.publish(record)

    def close(self) -> None:
        self.server.close()


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "edgeseg"
    sys_version = ""
    timeout = CLIENT_TIMEOUT_S  # reads and writes: a client that stops reading is let go, not waited on forever

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request per frame of stats would bury the run's own output

    # Checks, then routes.

    def _answer(self, body: bool) -> None:
        page = self.server.page
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if page.loopback and not _loopback_host(self.headers.get("Host", "")):
            return self._plain(403, "this page answers to localhost only (it was started on a loopback address)", body)
        if page.token is not None and not self._authorized(page.token, query):
            return self._plain(401, "a token is needed: add ?token=… to the URL (or an Authorization: Bearer header)",
                               body, {"WWW-Authenticate": 'Bearer realm="edgeseg"'})  # fmt: skip
        hub = page.hub
        if hub is None or hub.closed:
            return self._plain(503, "the run has not started yet, or has ended", body, {"Retry-After": "1"})
        routes: dict[str, Callable[[dict[str, list[str]], bool], None]] = {
            "/": self._page,
            "/index.html": self._page,
            "/stream.mjpg": self._stream,
            "/snapshot.jpg": self._snapshot,
            "/stats.json": self._stats,
            "/healthz": self._health,
        }
        route = routes.get(url.path)
        if route is None:
            return self._plain(404, f"no such page: {url.path} (try /, /stream.mjpg, /snapshot.jpg, /stats.json)", body)
        try:
            route(query, body)
        except _BadRequest as exc:
            self._plain(400, str(exc), body)

    def _authorized(self, token: str, query: dict[str, list[str]]) -> bool:
        given = [*query.get("token", []), self.headers.get("X-Edgeseg-Token", "")]
        bearer = self.headers.get("Authorization", "")
        if bearer.lower().startswith("bearer "):
            given.append(bearer[7:].strip())
        expected = token.encode()
        # Constant time: how long the comparison takes says nothing about how much of a guess was right.
        return any(hmac.compare_digest(candidate.encode(), expected) for candidate in given if candidate)

    def _page(self, query: dict[str, list[str]], body: bool) -> None:
        page = self.server.page
        view = _one(query, "view", "overlay")
        html = page.page(view, page.token if page.token else None).encode()
        self._send(200, "text/html; charset=utf-8", html, body, {"Content-Security-Policy": CSP})

    def _stream(self, query: dict[str, list[str]], body: bool) -> None:
        hub = self.server.page.hub
        assert hub is not None
        stream, view = _choice(query, hub.streams)
        if not body:
            return self._head(200, f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        viewer = hub.add_viewer(stream, view)
        if viewer is None:
            return self._plain(503, "too many streams open; close one and reload", body, {"Retry-After": "5"})
        try:
            self._head(200, f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self._send_frames(viewer)
        except OSError:  # the client went away or stopped reading (timeout): free its slot
            pass
        finally:
            hub.remove_viewer(viewer)

    def _send_frames(self, viewer: Viewer) -> None:
        while not viewer.closed:
            jpeg = viewer.take(_WAIT_S)
            if jpeg is None:
                if self._client_gone():
                    return
                continue
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            self.wfile.write(head + jpeg + b"\r\n")
            self.wfile.flush()
            viewer.sent += 1

    def _client_gone(self) -> bool:
        """True once the client closed its end (a stream with no new frame would not notice otherwise)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _snapshot(self, query: dict[str, list[str]], body: bool) -> None:
        hub = self.server.page.hub
        assert hub is not None
        stream, view = _choice(query, hub.streams)
        jpeg = hub.snapshot(stream, view)
        if jpeg is None:
            return self._plain(503, "no frame yet; try again in a moment", body, {"Retry-After": "1"})
        self._send(200, "image/jpeg", jpeg, body)

    def _stats(self, query: dict[str, list[str]], body: bool) -> None:
        document = self.server.page.stats_document()
        self._send(200, "application/json", (json.dumps(document) + "\n").encode(), body)

    def _health(self, query: dict[str, list[str]], body: bool) -> None:
        page = self.server.page
        frames = page.stats.frames if page.stats else 0
        self._send(200, "application/json", (json.dumps({"ok": True, "frames": frames}) + "\n").encode(), body)

    # Writing answers.

    def _head(self, code: int, content_type: str, length: int | None = None, extra: dict[str, str] | None = None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in {**_COMMON_HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, code: int, content_type: str, data: bytes, body: bool, extra: dict[str, str] | None = None):
        self._head(code, content_type, len(data), extra)
        if body:
            self.wfile.write(data)

    def _plain(self, code: int, text: str, body: bool, extra: dict[str, str] | None = None) -> None:
        self._send(code, "text/plain; charset=utf-8", (text + "\n").encode(), body, extra)


def _one(query: dict[str, list[str]], name: str, default: str) -> str:
    values = query.get(name)
    return values[-1] if values else default


def _choice(query: dict[str, list[str]], streams: int) -> tuple[int, str]:
    from edgeseg.runtime.web.hub import check_choice

    text = _one(query, "stream", "0")
    if not text.isdigit():
        raise _BadRequest(f"stream must be a number from 0, got {text!r}")
    stream, view = int(text), _one(query, "view", "overlay")
    try:
        check_choice(stream, view, streams)
    except EdgesegError as exc:
        raise _BadRequest(str(exc)) from exc
    return stream, view


def _loopback_host(header: str) -> bool:
    """Whether a Host header names this machine's loopback (localhost, 127.x.x.x, [::1]), with any port."""
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if host in ("localhost", "") or host.endswith(".localhost"):
        return host != ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
