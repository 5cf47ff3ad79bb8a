"""`edgeseg run --save run.mcap`: read back with an independent reader (Foxglove's `mcap` and `mcap-ros2-support`,
not the `rosbags` that wrote it): topics, encodings, sizes, stamps in order, pixels equal to the API's masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the recorder writes with rosbags: pip install 'edgeseg[ros2]'")
mcap_reader = pytest.importorskip("mcap.reader", reason="the independent reader: pip install mcap mcap-ros2-support")
from mcap_ros2.decoder import DecoderFactory  # noqa: E402

from tests.bad_input import assert_refused, snapshot  # noqa: E402

from .test_run import read_video  # noqa: E402


def _messages(path: Path) -> list[tuple[str, str, object, int]]:
    with path.open("rb") as stream:
        reader = mcap_reader.make_reader(stream, decoder_factories=[DecoderFactory()])
        return [
            (channel.topic, schema.name, message, record.log_time)
            for schema, channel, record, message in reader.iter_decoded_messages()
        ]


def _image(message) -> np.ndarray:
    channels = {"mono8": 1, "rgb8": 3, "bgr8": 3}[message.encoding]
    return np.frombuffer(bytes(message.data), np.uint8).reshape(message.height, message.width, channels).squeeze()


def test_a_recording_holds_every_frame_as_ros2_images(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    import edgeseg

    recording = tmp_path / "run.mcap"
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--save", recording)
    assert result.returncode == 0, result.stderr
    assert not list(tmp_path.glob(".*partial*"))
    messages = _messages(recording)
    classes = [m for topic, _, m, _ in messages if topic == "/edgeseg/classes"]
    assert json.loads(classes[0].data)["class_names"] == ["background", "circle", "rectangle", "triangle"]
    by_topic: dict[str, list] = {}
    for topic, schema, message, log_time in messages:
        by_topic.setdefault(topic, []).append((schema, message, log_time))
    frames = read_video(tiny_video)
    counts = {t: len(m) for t, m in by_topic.items() if t != "/edgeseg/classes"}
    assert counts == {"/edgeseg/image": 40, "/edgeseg/class_mask": 40, "/edgeseg/color_mask": 40}
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m, _ in by_topic["/edgeseg/image"]]
    assert stamps == sorted(stamps) and stamps[0] > 1.7e18  # capture times, in order
    assert [t for _, _, t in by_topic["/edgeseg/image"]] == stamps
    with edgeseg.load(tiny_onnx, provider="cpu") as seg:
        for frame, (schema, image, _), (_, mask, _) in zip(
            frames, by_topic["/edgeseg/image"], by_topic["/edgeseg/class_mask"]
        ):
            assert schema == "sensor_msgs/msg/Image" and image.encoding == "bgr8" and mask.encoding == "mono8"
            np.testing.assert_array_equal(_image(image), frame)
            np.testing.assert_array_equal(_image(mask), seg(frame))
    colours = _image(by_topic["/edgeseg/color_mask"][0][1])
    palette = np.asarray(json.loads(classes[0].data)["palette"], np.uint8)
    np.testing.assert_array_equal(colours, palette[_image(by_topic["/edgeseg/class_mask"][0][1])])


def test_an_existing_recording_is_kept(run_edgeseg, tiny_onnx, tiny_video, tmp_path):
    recording = tmp_path / "run.mcap"
    recording.write_bytes(b"yesterday's drive")
    before = snapshot(tmp_path)
    result = run_edgeseg("run", "--model", tiny_onnx, "--source", tiny_video, "--no-show", "--save", recording)
    assert_refused(result, "--force", before, tmp_path)


def test_a_model_with_logits_records_its_confidence(run_edgeseg, tiny_checkpoint, tiny_video, tmp_path):
    from edgeseg.export.steps import ExportOptions, run_export

    run_export(ExportOptions(tiny_checkpoint, out=tmp_path, engine=False, output="logits"), log=lambda m: None)
    recording = tmp_path / "run.mcap"
    args = ["--source", tiny_video, "--no-show", "--save", recording, "--max-frames", "5"]
    result = run_edgeseg("run", "--model", tmp_path / "model.onnx", *args)
    assert result.returncode == 0, result.stderr
    confidences = [m for topic, _, m, _ in _messages(recording) if topic == "/edgeseg/confidence"]
    assert len(confidences) == 5
    values = _image(confidences[0])
    assert values.shape == (72, 96) and values.min() >= 255 // 4  # the top of 4 classes is at least a quarter
