"""The results outputs of `edgeseg run` (--jsonl, --publish and their options), checked and opened in one place.

`check()` runs before the model loads (the options agree, the URL and topic are well formed); `open()` runs
before the camera opens (the model can give a confidence, the broker answers), so every problem is one line
before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeseg.errors import EdgesegError
from edgeseg.runtime.mqtt import QOS_LEVELS, MqttTarget, parse_mqtt_url
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sinks import Sink


@dataclass
class ResultOutputs:
    """What the results options ask for. None: the option was not given."""

    jsonl: Path | None = None
    publish: str | None = None
    polygons: bool = False
    confidence: bool = False
    publish_every: int | None = None
    publish_qos: int | None = None

    def check(self, other_outputs: dict[str, Path | None] | None = None) -> MqttTarget | None:
        """Refuse options that do nothing or disagree; the parsed --publish target, if any."""
        if self.jsonl is None and self.publish is None:
            for option in ("polygons", "confidence"):
                if getattr(self, option):
                    raise EdgesegError(f"--{option} shapes the JSON records; add --jsonl FILE or --publish mqtt://…")
        if self.publish is None:
            for option in ("publish_every", "publish_qos"):
                if getattr(self, option) is not None:
                    raise EdgesegError(f"--{option.replace('_', '-')} applies to --publish; add --publish mqtt://…")
        if self.publish_every is not None and self.publish_every < 1:
            raise EdgesegError(f"--publish-every must be a whole number ≥ 1, got {self.publish_every}")
        if self.publish_qos is not None and self.publish_qos not in QOS_LEVELS:
            raise EdgesegError(f"--publish-qos must be 0 or 1, got {self.publish_qos}")
        if self.jsonl is not None:
            for option, path in (other_outputs or {}).items():
                if path is not None and Path(path).absolute() == self.jsonl.absolute():
                    raise EdgesegError(f"--jsonl and {option} name the same file {path}; pass two paths")
        return parse_mqtt_url(self.publish) if self.publish is not None else None

    def open(
        self, segmenter: Segmenter, *, force: bool = False, warn: Callable[[str], None] | None = None
    ) -> list[Sink]:
        """The outputs, opened: the MQTT broker is connected here (MqttError when it cannot be)."""
        target = self.check()
        if self.confidence:
            segmenter.require_confidence()
        outputs: list[Sink] = []
        if self.jsonl is not None:
            from edgeseg.runtime.jsonl import JsonLinesSink

            outputs.append(JsonLinesSink(self.jsonl, polygons=self.polygons, confidence=self.confidence, force=force))
        if target is not None:
            from edgeseg.runtime.mqtt import MqttSink

            options = {"warn": warn} if warn is not None else {}
            outputs.append(
                MqttSink(
                    target,
                    qos=self.publish_qos or 0,
                    every=self.publish_every or 1,
                    polygons=self.polygons,
                    confidence=self.confidence,
                    **options,
                )
            )
        return outputs


def close_all(outputs: list[Sink]) -> None:
    """Close outputs opened for a run that never started (the camera did not open); the first error is raised."""
    failure: BaseException | None = None
    for output in outputs:
        try:
            output.close()
        except BaseException as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
