"""INT8 calibration in bounded memory: ONNX Runtime's own statistics, gathered one image at a time.

ONNX Runtime's histogram calibrators (percentile, entropy) run every calibration image through a graph that
outputs every activation, keep all those outputs, and only then build one histogram per tensor from all of
them at once: about 0.6 GB per image for DeepLabV3+ at 512², so the default 64 images need tens of GB.
Calling its `collect_data` in chunks keeps memory bounded but changes the result, because the first chunk
fixes the histogram's bins.

`bounded_calibration` keeps ONNX Runtime's result and drops the memory. Two passes over the images, one image's
activations in memory at a time: the first finds each tensor's extremes over the whole set, which are exactly
the bin ranges ONNX Runtime derives from all images at once; the second counts each image into those bins.
Counts add up, so the histograms, and the ranges ONNX Runtime's own code computes from them, are bit for bit
the ones of the all-at-once calibration. It costs a second inference pass over the calibration images.
Min/max calibration already reduces each tensor inside the graph, so it is left as ONNX Runtime runs it.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

_PATCHING = threading.Lock()


class CalibrationReader:
    """ONNX Runtime's calibration data reader over a sequence of input batches, which it can read again.

    The batches are taken one at a time from `batches` (which may read each image from disk when indexed), so
    nothing here holds more than the current one.
    """

    def __init__(self, batches: Sequence[np.ndarray], input_name: str) -> None:
        self._batches = batches
        self._input_name = input_name
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._batches):
            return None
        batch = self._batches[self._next]
        self._next += 1
        return {self._input_name: batch}

    def rewind(self) -> None:
        """Start again from the first batch (the second pass of `collect_histograms`)."""
        self._next = 0

    def __len__(self) -> int:
        return len(self._batches)


@contextlib.contextmanager
def bounded_calibration() -> Iterator[None]:
    """Within this block, ONNX Runtime's `quantize_static` calibrates its histogram methods with
    `collect_histograms`; its reader must be a `CalibrationReader`.

    `quantize_static` builds its calibrator with `create_calibrator` and only calls `collect_data` and
    `compute_data` on it (ONNX Runtime ≥ 1.16 alike); there is no argument to hand it a calibrator or
    precomputed ranges, so the calibrator it builds gets this module's `collect_data` for the call.
    """
    from onnxruntime.quantization.calibrate import HistogramCalibrater

    # The module itself: the package's attribute `quantize` is a function of the same name.
    ort_quantize = importlib.import_module("onnxruntime.quantization.quantize")

    with _PATCHING:  # one at a time: two threads interleaving would leave the other's function in place
        original = ort_quantize.create_calibrator

        def create_calibrator(*args: Any, **kwargs: Any) -> Any:
            calibrator = original(*args, **kwargs)
            if isinstance(calibrator, HistogramCalibrater):
                # A weak reference: `quantize_static` frees the calibrator and its session with `del` when done,
                # which a reference cycle would put off until the garbage collector runs.
                owner = weakref.ref(calibrator)
                calibrator.collect_data = lambda reader: collect_histograms(owner(), reader)
            return calibrator

        ort_quantize.create_calibrator = create_calibrator
        try:
            yield
        finally:
            ort_quantize.create_calibrator = original


def collect_histograms(calibrator: Any, reader: CalibrationReader) -> None:
    """What ONNX Runtime's `HistogramCalibrater.collect_data` computes from all of `reader`'s batches at once,
    computed with one batch's activations in memory: it leaves `calibrator.collector` holding the same
    histograms, so the calibrator's own `compute_data` finds the same ranges."""
    from onnxruntime.quantization.calibrate import HistogramCollector

    session = calibrator.infer_session
    names = [output.name for output in session.get_outputs()]
    # ONNX Runtime's order (the session's outputs), which its collector keeps in the ranges it returns.
    tensors = [name for name in names if name in calibrator.tensors_to_calibrate]
    absolute = calibrator.method == "percentile" and calibrator.symmetric  # its collect_absolute_value
    stats = _extremes(session, names, tensors, reader, absolute)
    reader.rewind()
    collector = HistogramCollector(
        method=calibrator.method,
        symmetric=calibrator.symmetric,
        num_bins=calibrator.num_bins,
        num_quantized_bins=calibrator.num_quantized_bins,
        percentile=calibrator.percentile,
        scenario=getattr(calibrator, "scenario", "same"),
    )
    collector.histogram_dict = _histograms(session, names, stats, reader, absolute, calibrator.num_bins)
    calibrator.collector = collector


def _each_batch(
    session: Any, names: list[str], reader: CalibrationReader, visit: Callable[[dict[str, np.ndarray]], None]
) -> None:
    """`visit` every output of the augmented graph for each batch in turn. Nothing keeps a batch's outputs once
    `visit` returns, so only one batch's activations are in memory while the next one runs."""
    batches = 0
    while (feed := reader.get_next()) is not None:
        visit(dict(zip(names, session.run(None, feed))))
        batches += 1
    if not batches:
        raise ValueError("No data is collected.")  # ONNX Runtime's own words for an empty reader


def _extremes(
    session: Any, names: list[str], tensors: list[str], reader: CalibrationReader, absolute: bool
) -> dict[str, list[Any]]:
    """Per tensor over all batches: the lowest and highest value, and for |x| histograms the lowest and highest
    |x| (the range NumPy's histogram takes from the data when it is given no range)."""
    stats: dict[str, list[Any]] = {}

    def visit(outputs: dict[str, np.ndarray]) -> None:
        for name in tensors:
            values = outputs[name]
            found = [np.nanmin(values), np.nanmax(values)]
            if absolute:
                magnitudes = np.absolute(values)
                found += [magnitudes.min(), magnitudes.max()]
            # min() and max() of float32 scalars are exact: these are the extremes of all batches at once.
            old = stats.setdefault(name, found)
            stats[name] = [min(old[0], found[0]), max(old[1], found[1])] + (
                [min(old[2], found[2]), max(old[3], found[3])] if absolute else []
            )

    _each_batch(session, names, reader, visit)
    return stats


def _histograms(
    session: Any,
    names: list[str],
    stats: dict[str, list[Any]],
    reader: CalibrationReader,
    absolute: bool,
    bins: int,
) -> dict[str, tuple[Any, ...]]:
    """Each tensor's histogram over all batches, as ONNX Runtime's collector stores it.

    NumPy assigns each value to a bin from the range and the bin count alone, so counting batch by batch into
    the range of all batches gives the counts of the whole set.
    """
    edges: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    thresholds: dict[str, np.ndarray] = {}

    def visit(outputs: dict[str, np.ndarray]) -> None:
        for name, found in stats.items():
            values = outputs[name]
            if absolute:  # collect_absolute_value: bins over [min |x|, max |x|]
                hist, edges[name] = np.histogram(np.absolute(values), bins=bins, range=(found[2], found[3]))
            else:  # collect_value: bins over [-t, t], t the largest |x|
                thresholds[name] = np.array(max(abs(found[0]), abs(found[1])), dtype=values.dtype)
                hist, edges[name] = np.histogram(values, bins, range=(-thresholds[name], thresholds[name]))
            counts[name] = hist if name not in counts else counts[name] + hist

    _each_batch(session, names, reader, visit)
    if absolute:
        return {name: (counts[name], edges[name], found[0], found[1]) for name, found in stats.items()}
    return {name: (counts[name], edges[name], found[0], found[1], thresholds[name]) for name, found in stats.items()}
