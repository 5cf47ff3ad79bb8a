"""`edgeseg run --serve` as a person starts it: the real console script in a subprocess, its page read over HTTP.

Not a double: the server is the one the command starts, on 127.0.0.1 and a port the system picks (--serve
127.0.0.1:0; the command prints where). The helpers read the page's answers and its MJPEG stream with the
standard library, as a browser or curl would.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))
_URL = re.compile(r"live page: http://[^:/]+:(\d+)/")


class ServedRun:
    """`with ServedRun(model, source, "--serve-token", "t0ken-123") as run: run.get("/stats.json")`."""

    def __init__(self, model: Path, source: str, *extra: str, serve: str = "127.0.0.1:0", start_s: float = 120) -> None:
        args = [EDGESEG, "run", "--model", str(model), "--source", source, "--no-show", "--serve", serve, *extra]
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url(start_s)
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the run ended before serving: {self.finish()}")
            self.stdout.append(line)
            match = _URL.search(line)
            if match:  # a page bound to every network is reached here through loopback too
                return f"http://127.0.0.1:{match.group(1)}/"
        raise AssertionError("no 'live page:' line within the time allowed")

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request; the status, headers and body (not for /stream.mjpg, which never ends)."""
        connection = self.connection()
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def wait_for(self, condition, timeout: float = 30, what: str = "the condition"):
        """Poll /stats.json until `condition(stats)` holds; returns those stats."""
        import json

        deadline = time.monotonic() + timeout
        while True:
            status, _, body = self.get(self.path_with_token("/stats.json"))
            stats = json.loads(body) if status == 200 else None
            if stats is not None and condition(stats):
                return stats
            assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s: {stats}"
            time.sleep(0.1)

    token: str | None = None

    def path_with_token(self, path: str) -> str:
        if not self.token:
            return path
        return f"{path}{'&' if '?' in path else '?'}token={self.token}"

    def finish(self, sig: int | None = signal.SIGINT, timeout: float = 60) -> tuple[int, str, str]:
        """Stop the run as Ctrl-C does (or, with sig=None, wait for its end); its exit code, stdout and stderr."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stderr is not None
        stderr = self.proc.stderr.read()
        while True:
            try:
                line = self._lines.get(timeout=2)
            except queue.Empty:
                break
            if line is None:
                break
            self.stdout.append(line)
        return self.proc.returncode, "".join(self.stdout), stderr

    def __enter__(self) -> ServedRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.finish()


class MjpegReader:
    """A client of /stream.mjpg on its own socket: reads the multipart/x-mixed-replace parts and decodes them."""

    def __init__(self, run: ServedRun, path: str = "/stream.mjpg", timeout: float = 15) -> None:
        self.sock = socket.create_connection((run.host, run.port), timeout=timeout)
        request = f"GET {run.path_with_token(path)} HTTP/1.1\r\nHost: {run.host}:{run.port}\r\n\r\n"
        self.sock.sendall(request.encode())
        self.file = self.sock.makefile("rb")
        self.status = int(self.file.readline().split()[1])
        self.headers: dict[str, str] = {}
        while True:
            line = self.file.readline().decode().strip()
            if not line:
                break
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.content_type = self.headers.get("content-type", "")

    def frame(self) -> np.ndarray:
        """The next frame, decoded (BGR)."""
        length = None
        while True:
            line = self.file.readline()
            assert line, "the stream ended"
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            if line in (b"\r\n", b"\n") and length is not None:
                break
        data = self.file.read(length)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, "a part of the stream is not a JPEG"
        return image

    def reset(self) -> None:
        """Close the socket the way a killed browser does: at once, with a reset (RST), mid-stream."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.file.close()
        self.sock.close()

    def close(self) -> None:
        self.file.close()
        self.sock.close()
