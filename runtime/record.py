"""One finished frame, as every output of `edgeseg run` receives it.

The run loop makes one `FrameRecord` per frame after inference and hands the same object to every output
(file or network, lossless or live). The overlay is drawn from it once, by the first output that asks for it,
and only if one does: a run that only writes masks, or streams JSON, never pays for drawing.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeseg.runtime.confidence import ConfidenceMap
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.result import SegmentationResult


@dataclass
class FrameRecord:
    """A frame and its segmentation. Outputs read it and must not modify its arrays."""

    stream: int  # which source, 0 for the first (several cameras are several streams)
    index: int  # the frame's number in its stream
    name: str  # the file's name, or the frame number of a stream
    captured: float  # time.perf_counter() when it was read
    timestamp: float  # time.time() when it was read: the stamp a recording or a message carries
    image: np.ndarray  # the source frame, BGR uint8 H×W×3
    mask: np.ndarray  # class indices, uint8 H×W, the frame's own size
    seconds: dict[str, float]  # stage → seconds it took, in stage order
    renderer: Renderer
    banner: str | None = None
    confidence_map: ConfidenceMap | None = None  # the top class's probability, where computed
    _drawn: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _serialized: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def overlay(self, view: str | None = None) -> np.ndarray:
        """The frame drawn in `view` (the run's --view by default), made once per view and shared."""
        view = view or self.renderer.view
        with self._lock:  # live outputs draw from their own threads
            drawn = self._drawn.get(view)
            if drawn is None:
                drawn = self.renderer.draw(self.image, self.mask, self.banner, view=view)
                self._drawn[view] = drawn
        return drawn

    @property
    def confidence(self) -> np.ndarray | None:
        """The top class's probability, float32 H×W at the frame's size (made on first use), where computed."""
        return None if self.confidence_map is None else self.confidence_map.at_image()

    def result(self, *, confidence_at_image: bool = True) -> SegmentationResult:
        """This frame as the Python API's result (sharing its arrays). confidence_at_image=False leaves its
        `confidence` None (its JSON form still summarises it): what the JSON outputs serialize, at no resize."""
        confidence = self.confidence if confidence_at_image else None
        return SegmentationResult(
            self.mask, self.renderer.class_names, confidence, self.index, self.name, self.timestamp,
            self.seconds, self.image, self.stream, self.confidence_map,
        )  # fmt: skip

    def to_dict(self, *, polygons: bool = False) -> dict[str, Any]:
        """The JSON record of this frame (docs/outputs.md), as a dict (a new one each call)."""
        return self.result(confidence_at_image=False).to_dict(polygons=polygons)

    def to_json(self, *, polygons: bool = False) -> str:
        """The JSON record as one line of compact JSON, made once per frame and shared by every output that
        asks (JSON lines and MQTT pay for one). Raises ValueError for NaN or infinite values (a model that
        returned NaN): JSON has no such numbers."""
        key = f"json polygons={polygons}"
        with self._lock:  # live outputs ask from their own threads
            text = self._serialized.get(key)
            if text is None:
                text = json.dumps(self.to_dict(polygons=polygons), separators=(",", ":"), allow_nan=False)
                self._serialized[key] = text
        return text
