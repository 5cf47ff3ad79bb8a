"""A real Mosquitto broker (Debian's `mosquitto`) for tests, and a subscriber that keeps what it receives.

Each broker has its own config on a free 127.0.0.1 port, no persistence, and optionally a password file; it can
be stopped and started again on the same port, or paused (SIGSTOP: connections stay open, nothing is read) to
stand for a broker that is slow. Tests that need one skip only where mosquitto is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
PASSWD = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path="/usr/bin:/usr/local/bin")
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="Debian's mosquitto is not installed (apt-get install mosquitto; .ci/run does)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mosquitto:
    """A broker on 127.0.0.1:`port`; `users` ({name: password}) turns anonymous access off."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr", "log_type error"]
        if os.geteuid() == 0:
            lines.append("user root")  # as root, mosquitto would switch to a user who cannot read the temp folder
        if users:
            passwords = folder / "passwords"
            passwords.write_text("")
            for name, password in users.items():
                subprocess.run([PASSWD, "-b", str(passwords), name, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def url(self, topic: str = "edgeseg/test", credentials: str = "") -> str:
        return f"mqtt://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/{topic}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Subscriber:
    """Subscribes to `topic` (again after every reconnection) and keeps each message's payload, parsed."""

    def __init__(self, broker: Mosquitto, topic: str = "edgeseg/test", qos: int = 1) -> None:
        import paho.mqtt.client as mqtt

        self.topic, self.qos = topic, qos
        self.raw: list[bytes] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-subscriber-{id(self):x}")
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda client, *args: client.subscribe(self.topic, qos=self.qos)
        self.client.on_subscribe = lambda *args: self.connected.set()  # SUBACK: delivered from here on
        self.client.on_disconnect = lambda *args: self.connected.clear()
        self.client.on_message = lambda client, userdata, message: self.raw.append(message.payload)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.connected.wait(10), "the test subscriber could not subscribe"

    def records(self) -> list[dict[str, Any]]:
        """Every message as JSON (a message that is not raises here: the test fails)."""
        return [json.loads(payload) for payload in list(self.raw)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
