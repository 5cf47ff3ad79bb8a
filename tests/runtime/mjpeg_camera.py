"""A network camera for tests: a real MJPEG-over-HTTP stream (what IP cameras serve) on 127.0.0.1.

Not a double: `edgeseg run --source http://…` reads it through OpenCV's FFmpeg backend, as it would a camera
on the robot's network. What a misbehaving camera does is scripted per connection: send `frames` frames, then
stall with the connection open (a wedged stream: OpenCV's read blocks for its 30 s timeout) or hang up, and
refuse or accept later connections.
"""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Session:
    frames: int  # frames this connection sends
    then: str = "hang up"  # or "stall": keep the connection open and send nothing
    fps: float = 30.0


class MjpegCamera:
    """`with MjpegCamera([Session(20, "stall")]) as camera: camera.url` — one Session per connection, in order;
    once they are used up, connections are refused (the camera is gone)."""

    def __init__(self, sessions: list[Session], size: tuple[int, int] = (48, 64)) -> None:
        self.sessions, self.size = list(sessions), size
        self.connections = 0
        self.sent = 0
        self._closing = threading.Event()
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                camera._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def frame(self, index: int) -> bytes:
        height, width = self.size
        image = np.zeros((height, width, 3), np.uint8)
        image[:, : width // 2] = (index * 7) % 256
        cv2.circle(image, (width * 3 // 4, height // 2), height // 4, (0, 200, 255), -1)
        return cv2.imencode(".jpg", image)[1].tobytes()

    def _serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        self.connections += 1
        if not self.sessions:
            handler.send_error(503, "camera gone")
            return
        session = self.sessions.pop(0)
        handler.send_response(200)
        handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        handler.end_headers()
        try:
            for _ in range(session.frames):
                jpeg = self.frame(self.sent)
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                handler.wfile.write(head + jpeg + b"\r\n")
                handler.wfile.flush()
                self.sent += 1
                time.sleep(1 / session.fps)
            if session.then == "stall":
                self._closing.wait(120)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def __enter__(self) -> MjpegCamera:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
