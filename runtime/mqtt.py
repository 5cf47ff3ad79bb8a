"""`edgeseg run --publish mqtt://[user:pass@]HOST[:PORT]/TOPIC`: each frame's JSON record to an MQTT broker.

A live output (docs/architecture.md, "The run loop"): it runs behind its own newest-frame slot and thread, so
a broker that is slow or away never slows inference. Each record is published and waited for, at most
SEND_TIMEOUT_S: while one waits, newer frames replace each other in the slot (counted as skipped), so nothing
queues up in memory. paho-mqtt's network thread reconnects a lost broker with back-off (1 s doubling to 8 s).

QoS 0 (default): a record published while the broker is away is dropped and counted. QoS 1: paho keeps up to
QOS1_QUEUE unacknowledged records while the broker is away and sends them when it is back; past that, records
are dropped and counted. An unreachable or refusing broker at start is one line before the camera opens.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote

from edgeseg.errors import EdgesegError, describe, require
from edgeseg.runtime.record import FrameRecord
from edgeseg.runtime.sinks import RecordDropped

DEFAULT_PORT = 1883
CONNECT_TIMEOUT_S = 5.0  # for the TCP connection and the broker's answer (CONNACK), at start
SEND_TIMEOUT_S = 0.75  # a record not sent (QoS 0) or acknowledged (QoS 1) by then: the next one is taken
KEEPALIVE_S = 15  # a broker that vanished without closing the connection is noticed within 1.5× this
RECONNECT_S = (1, 8)  # paho's back-off between reconnection attempts: from 1 s, doubling, at most 8 s
QOS1_QUEUE = 100  # QoS 1 records kept for a broker that is away; more are dropped
QOS_LEVELS = (0, 1)


class MqttError(EdgesegError):
    """A --publish target that is malformed, unreachable or refuses edgeseg."""


@dataclass(frozen=True)
class MqttTarget:
    """Where --publish sends records: a broker, a topic, and the credentials it may ask for."""

    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        """The URL with the password hidden: messages and logs never show it."""
        user = f"{self.username}{':***' if self.password is not None else ''}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{user}{host}:{self.port}/{self.topic}"


def parse_mqtt_url(url: str, option: str = "--publish") -> MqttTarget:
    """mqtt://[user[:password]@]HOST[:PORT]/TOPIC, checked: MqttError (one line) for anything else.

    The topic is everything after the first slash (slashes included, %-escapes decoded); it must be a topic
    a client may publish to: not empty, no wildcards (+ #), not reserved to the broker ($…), no NUL.
    """
    form = "mqtt://[user:pass@]HOST[:PORT]/TOPIC"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise MqttError(f"{option} {url!r} is not a URL; pass {form}")
    if scheme.lower() != "mqtt":
        also = " (TLS is not supported yet: use a local broker or a bridge)" if scheme.lower() == "mqtts" else ""
        raise MqttError(f"{option} takes an mqtt:// URL, got {scheme}://{also}; pass {form}")
    netloc, slash, raw_topic = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = _host_port(hostport, option, form)
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = unquote(user), (unquote(secret) if colon else None)
        if not username:
            raise MqttError(f"{option}: the user name before '@' is empty; pass {form}")
    topic = unquote(raw_topic)
    if not slash or not topic:
        example = f"mqtt://{hostport or 'localhost'}/robot/segmentation"
        raise MqttError(f"{option} names no topic; pass {form}, e.g. {example}")
    wildcards = sorted({c for c in topic if c in "+#"})
    if wildcards:
        raise MqttError(
            f"{option}: the topic {topic!r} holds the wildcard {' and '.join(wildcards)}, which only subscribers "
            f"may use; name one topic, e.g. robot/segmentation"
        )
    if topic.startswith("$"):
        raise MqttError(f"{option}: topics starting with $ ({topic!r}) are the broker's own; name another")
    if "\0" in topic or len(topic.encode()) > 65535:
        raise MqttError(f"{option}: the topic holds a NUL character or is longer than 65535 bytes")
    return MqttTarget(host, port, topic, username, password)


def _host_port(hostport: str, option: str, form: str) -> tuple[str, int]:
    if hostport.startswith("["):  # [IPv6]:port
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise MqttError(f"{option}: cannot read the host {hostport!r}; pass {form}")
        port_text = after[1:] if after else ""
    else:
        host, colon, port_text = hostport.partition(":")
        if colon and not port_text:
            raise MqttError(f"{option}: the port after {host}: is empty; pass {form} (1883 if left out)")
    if not host:
        raise MqttError(f"{option} names no broker host; pass {form}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise MqttError(f"{option}: the port must be a number from 1 to 65535, got {port_text!r}")
    return host, int(port_text)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class MqttSink:
    """Publishes each record's JSON form (docs/outputs.md) to `target.topic`; a live output of the run loop.

    Connects at construction (before the camera opens) and raises MqttError, one line, when the broker cannot
    be reached or refuses; afterwards a lost broker is reconnected by paho's thread and never raises.
    """

    name, live = "mqtt", True

    def __init__(
        self,
        target: MqttTarget,
        *,
        qos: int = 0,
        every: int = 1,
        polygons: bool = False,
        confidence: bool = False,
        warn: Callable[[str], None] = _stderr,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if qos not in QOS_LEVELS:
            raise MqttError(f"--publish-qos must be 0 or 1, got {qos}")
        mqtt = require("paho.mqtt.client", extra="mqtt")
        self._mqtt = mqtt
        self.target, self.qos, self.every, self.polygons = target, qos, every, polygons
        self.wants_confidence, self.warn = confidence, warn
        self._answered = threading.Event()
        self._refusal: str | None = None
        self._lost = False
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"edgeseg-{os.getpid()}-{id(self):x}", protocol=mqtt.MQTTv311
        )
        if target.username:
            client.username_pw_set(target.username, target.password)
        client.connect_timeout = connect_timeout
        client.reconnect_delay_set(*RECONNECT_S)
        client.max_queued_messages_set(QOS1_QUEUE)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        self.client = client
        self._connect(connect_timeout)

    def _connect(self, timeout: float) -> None:
        where = f"the MQTT broker at {self.target.host}:{self.target.port}"
        try:
            self.client.connect(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        except OSError as exc:
            from edgeseg.writable import cause

            reason = cause(exc) if exc.errno or exc.strerror else describe(exc)
            raise MqttError(f"cannot reach {where} ({reason}); is it running? (--publish {self.target})") from None
        self.client.loop_start()
        if not self._answered.wait(timeout) or self._refusal is not None:
            self._stop()
            if self._refusal is not None:
                raise MqttError(
                    f"{where} refused the connection ({self._refusal}); check the user and password in "
                    f"--publish {self.target}"
                )
            raise MqttError(f"{where} accepted a connection but did not answer within {timeout:g} s; is it MQTT?")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            if not self._answered.is_set():
                self._refusal = str(reason)
        elif self._lost:
            self._lost = False
            self.warn(f"note: output mqtt reconnected to {self.target.host}:{self.target.port}; publishing again")
        self._answered.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self._answered.is_set() and self._refusal is None and not self._lost and reason.value != 0:
            self._lost = True
            self.warn(
                f"warning: output mqtt lost the broker at {self.target.host}:{self.target.port} ({reason}); "
                "reconnecting, records are dropped meanwhile"
            )

    def write(self, record: FrameRecord) -> None:
        try:
            payload = record.to_json(polygons=self.polygons)
        except Exception as exc:  # a record that cannot be made is one lost message, not the end of the output
            raise RecordDropped(f"frame {record.name}: {describe(exc)}") from exc
        errors = self._mqtt
        info = self.client.publish(self.target.topic, payload, qos=self.qos)
        if info.rc == errors.MQTT_ERR_NO_CONN and self.qos == 0:
            raise RecordDropped("not connected to the broker")
        if info.rc == errors.MQTT_ERR_QUEUE_SIZE:
            raise RecordDropped(f"{QOS1_QUEUE} QoS 1 messages already wait for the broker")
        if info.rc not in (errors.MQTT_ERR_SUCCESS, errors.MQTT_ERR_NO_CONN):
            raise RecordDropped(errors.error_string(info.rc))
        if info.rc == errors.MQTT_ERR_NO_CONN:
            return  # QoS 1, broker away: paho keeps it (bounded) and sends it on reconnection
        try:  # bounded wait: meanwhile the run's newer frames replace each other in this output's slot
            info.wait_for_publish(SEND_TIMEOUT_S)
        except (ValueError, RuntimeError) as exc:
            raise RecordDropped(str(exc)) from None
        if not info.is_published() and self.qos == 0:
            raise RecordDropped(f"not sent within {SEND_TIMEOUT_S:g} s")

    def _stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def close(self) -> None:
        """Send what is pending (the DISCONNECT follows it), then stop paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()
