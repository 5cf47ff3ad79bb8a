"""`edgeseg run --publish mqtt://…` against a real Mosquitto broker: every record a subscriber gets is valid and in
order; a broker stopped mid-run and started again (the run goes on, publishing resumes); a broker that is paused
never slows the run; an unreachable or refusing broker, or a bad URL, is one line before the camera opens."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeseg.errors import EdgesegError
from edgeseg.runtime.mqtt import MqttError, MqttSink, MqttTarget, parse_mqtt_url
from tests.bad_input import assert_refused, snapshot

from .mjpeg_camera import MjpegCamera, Session
from .mosquitto import Mosquitto, Subscriber, free_port, needs_mosquitto

EDGESEG = str(Path(sys.executable).with_name("edgeseg"))


# The URL, checked before anything opens.


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("mqtt://broker/robot/seg", MqttTarget("broker", 1883, "robot/seg")),
        ("mqtt://10.0.0.2:1884/a", MqttTarget("10.0.0.2", 1884, "a")),
        ("MQTT://u:p%40ss@host:9/t/x", MqttTarget("host", 9, "t/x", "u", "p@ss")),
        ("mqtt://user@[::1]:1883/t%20v", MqttTarget("::1", 1883, "t v", "user", None)),
    ],
)
def test_urls_that_are_read(url, target):
    assert parse_mqtt_url(url) == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("broker/topic", "is not a URL"),
        ("http://broker/topic", "takes an mqtt:// URL, got http://"),
        ("mqtts://broker/topic", "TLS is not supported"),
        ("mqtt:///topic", "names no broker host"),
        ("mqtt://broker", "names no topic"),
        ("mqtt://broker/", "names no topic"),
        ("mqtt://broker:/t", "the port after broker: is empty"),
        ("mqtt://broker:70000/t", "from 1 to 65535, got '70000'"),
        ("mqtt://broker:http/t", "from 1 to 65535, got 'http'"),
        ("mqtt://broker/robot/+/seg", "wildcard +"),
        ("mqtt://broker/robot/#", "wildcard #"),
        ("mqtt://broker/robot/%23", "wildcard #"),
        ("mqtt://broker/$SYS/x", "the broker's own"),
        ("mqtt://:pw@broker/t", "user name before '@' is empty"),
    ],
)
def test_bad_urls_are_one_line(url, message):
    with pytest.raises(MqttError, match=message.replace("+", r"\+").replace("$", r"\$")):
        parse_mqtt_url(url)


def test_the_password_never_shows():
    assert str(parse_mqtt_url("mqtt://robot:s3cret@host/t")) == "mqtt://robot:***@host:1883/t"


def test_paho_missing_names_the_extra(run_python_without):
    code = (
        "from edgeseg.runtime.mqtt import MqttSink, MqttTarget\n"
        "try:\n    MqttSink(MqttTarget('127.0.0.1', 1, 't'))\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = run_python_without(code, ("paho",))
    assert "MissingDependencyError paho is not installed" in done.stdout and "edgeseg[mqtt]" in done.stdout


# Through the real command and a real broker.


def _records_in_order(subscriber: Subscriber) -> list[dict]:
    records = subscriber.records()  # json.loads of every message: one that is not JSON fails here
    indices = [r["index"] for r in records]
    assert indices == sorted(set(indices)), "records out of order or repeated"
    return records


@needs_mosquitto
def test_every_record_reaches_a_subscriber(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    with Mosquitto(tmp_path) as broker:
        subscriber = Subscriber(broker)
        stats = tmp_path / "stats.json"
        args = ["--source", tiny_video, "--no-show", "--publish", broker.url(), "--stats-json", stats]
        result = run_edgeseg("run", "--model", tiny_onnx, *args)
        every = run_edgeseg("run", "--model", tiny_onnx, *args[:-2], "--publish-every", "5", "--publish-qos", "1")
        time.sleep(0.5)
        subscriber.close()
    assert result.returncode == 0 and every.returncode == 0, result.stderr + every.stderr
    first, fifth = [], []
    for record in _records_in_order_per_run(subscriber):
        (fifth if first and record["index"] <= first[-1]["index"] else first).append(record)
    mqtt = json.loads(stats.read_text())["outputs"]["mqtt"]
    assert mqtt["live"] and mqtt["written"] == len(first) and mqtt["written"] + mqtt["skipped"] == 40
    assert mqtt["written"] >= 20 and mqtt["dropped"] == 0 and set(first[0]) >= {"index", "shares", "latency_ms"}
    assert fifth and all(r["index"] % 5 == 0 for r in fifth)  # every 5th frame: 0, 5, 10 …


def _records_in_order_per_run(subscriber: Subscriber) -> list[dict]:
    """Both runs' records, each run's in increasing order (the second starts again from frame 0)."""
    records = subscriber.records()
    runs: list[list[dict]] = [[]]
    for record in records:
        if runs[-1] and record["index"] <= runs[-1][-1]["index"]:
            runs.append([])
        runs[-1].append(record)
    assert len(runs) == 2, [r["index"] for r in records]
    return [r for run in runs for r in run]


@needs_mosquitto
@pytest.mark.slow
def test_broker_stopped_mid_run_and_started_again(tiny_onnx, tmp_path):
    stats = tmp_path / "stats.json"
    with Mosquitto(tmp_path) as broker, MjpegCamera([Session(3000, then="stall", fps=30)]) as camera:
        subscriber = Subscriber(broker)
        args = [EDGESEG, "run", "--model", str(tiny_onnx), "--source", camera.url, "--no-show"]
        args += ["--publish", broker.url(), "--stats-json", str(stats)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(lambda: len(subscriber.raw) >= 10, proc, "no record before the broker stopped")
        broker.stop()
        before = len(subscriber.raw)
        time.sleep(1.5)  # the run goes on: frames are dropped, not queued
        broker.start()
        _wait(lambda: subscriber.connected.is_set() and len(subscriber.raw) >= before + 10, proc, "no record after")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        subscriber.close()
    assert proc.returncode == 0, stderr
    records = _records_in_order(subscriber)
    assert len(records) >= before + 10
    assert "lost the broker" in stderr and "reconnected" in stderr and "Traceback" not in stderr
    summary = json.loads(stats.read_text())
    assert summary["outputs"]["mqtt"]["dropped"] > 0 and summary["outputs"]["mqtt"]["failed"] is None
    assert summary["frames"] > len(records)  # the run did not stop or wait while the broker was away


def _wait(condition, proc: subprocess.Popen, message: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


@needs_mosquitto
def test_a_paused_broker_never_slows_the_run(tmp_path):
    """SIGSTOP: the broker keeps its connections and reads nothing (a broker overwhelmed, a link that stalls)."""
    import numpy as np

    from edgeseg.runtime.loop import RunLoop
    from edgeseg.runtime.render import Renderer
    from edgeseg.runtime.segmenter import Segmenter

    from .test_run import SlowBackend
    from .test_run_nothing_lost import _Source

    class Fast(SlowBackend):
        def infer(self, inputs):
            time.sleep(0.005)
            return {"logits": np.zeros((1, 2, 8, 8), np.float32)}

    with Mosquitto(tmp_path) as broker:
        sink = MqttSink(parse_mqtt_url(broker.url()), qos=1, warn=lambda m: None)
        broker.pause()
        loop = RunLoop(_Source(count=300), Segmenter(Fast()), Renderer(["a", "b"], [[0] * 3] * 2), [sink])
        started = time.monotonic()
        stats = loop.run()
        took = time.monotonic() - started
        broker.resume()
    mqtt = stats.consumers["mqtt"]
    assert stats.frames == 300 and took < 300 * 0.005 + 6  # inference time, plus closing the output (2 s at most)
    assert mqtt.skipped > 250 and mqtt.failed is None  # waiting on the broker, newer frames replaced older ones


@needs_mosquitto
def test_unreachable_broker_is_one_line_before_the_camera_opens(run_edgeseg, tiny_onnx, tmp_path):
    url = f"mqtt://127.0.0.1:{free_port()}/robot/seg"  # nothing listens there
    before = snapshot(tmp_path)
    result = run_edgeseg("run", "--model", tiny_onnx, "--camera", "7", "--no-show", "--publish", url,
                         "--jsonl", tmp_path / "out.jsonl")  # fmt: skip
    assert_refused(result, "cannot reach the MQTT broker at 127.0.0.1", before, tmp_path)
    assert "(Connection refused)" in result.stderr and "camera" not in result.stderr  # the camera never opened


@needs_mosquitto
def test_a_broker_that_refuses_the_password(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    with Mosquitto(tmp_path, users={"robot": "right"}) as broker:
        wrong = run_edgeseg("run", "--model", tiny_onnx, "--camera", "7", "--no-show",
                            "--publish", broker.url(credentials="robot:wrong"))  # fmt: skip
        right = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--max-frames", "3",
                            "--publish", broker.url(credentials="robot:right"))  # fmt: skip
    assert_refused(wrong, "refused the connection (Not authorized)")
    assert "robot:***@" in wrong.stderr and "wrong" not in wrong.stderr  # the password is never printed
    assert right.returncode == 0, right.stderr


def test_bad_publish_options_are_refused_before_the_model_loads(run_edgeseg, tmp_path):
    missing = tmp_path / "no-model.onnx"  # the options are checked first: the model is never looked for
    for args, message in [
        (["--publish", "mqtt://host/a/#"], "wildcard #"),
        (["--publish", "mqtt://host/t", "--publish-every", "0"], "--publish-every must be a whole number ≥ 1"),
        (["--publish", "mqtt://host/t", "--publish-qos", "2"], "--publish-qos must be 0 or 1"),
        (["--publish-every", "2"], "--publish-every applies to --publish"),
    ]:
        result = run_edgeseg("run", "--model", missing, "--camera", "0", "--no-show", *args)
        assert_refused(result, message)


def test_an_output_error_is_an_edgeseg_error():
    assert issubclass(MqttError, EdgesegError)
