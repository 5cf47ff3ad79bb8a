"""The Python API: `seg = edgeseg.load("model.onnx")`, then `mask = seg(image)` or `result = seg.predict(image)`.

A thin layer over the lean runtime (the backends' `open_model`, `Segmenter`, `Renderer`, `open_source`):
the same pre- and post-processing as `edgeseg run`, so a script and the command give the same masks.
Only a .pt checkpoint needs torch; .onnx and .engine files load without it (what a Jetson has).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.backends import open_model
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.images import read_image
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.result import SegmentationResult
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sources import open_source

if TYPE_CHECKING:
    from edgeseg.runtime.stats import RunStats

cv2 = require("cv2", extra="cv")

COLOR_ORDERS = ("bgr", "rgb")
Image = Union[np.ndarray, str, Path]  # an H×W×3 uint8 array, or an image file's path


def load(
    path: str | Path, *, provider: str | None = None, threads: int | None = None, precision: str | None = None
) -> Model:
    """Open a model: a TensorRT `.engine`/`.plan`, an ONNX `.onnx` or a PyTorch `.pt` checkpoint.

    provider: for .onnx files, an ONNX Runtime provider ("tensorrt", "cuda", "cpu") or OpenVINO on a device
        ("openvino", "openvino:GPU", "openvino:NPU", "openvino:AUTO"); default: OpenVINO's CPU on an Intel CPU where
        it is installed, else ONNX Runtime's best provider. threads: CPU threads (default: one per core).
    precision: OpenVINO's precision hint ("f32", "bf16", "f16"; default: the device's own).
    Use the result as a context manager (`with edgeseg.load(...) as seg:`) to free the device when done.
    """
    backend = open_model(path, provider=provider, threads=threads, precision=precision)
    return Model(backend, name=Path(path).name)


class Model:
    """A loaded segmentation model: `mask = model(image)`.

    metadata: class names, palette (RGB per class), input size [height, width], mean/std and resize mode,
        as the artifact records them (the backend's `ModelMetadata`).
    backend_settings: how the model runs (library, device, precision), as `edgeseg run --stats-json` records it.
    """

    def __init__(self, backend: Backend, *, name: str = "model") -> None:
        self.metadata: ModelMetadata = backend.metadata
        self.backend_settings: dict[str, Any] = backend.settings
        self.name = name
        self._backend: Backend | None = backend
        self._segmenter = Segmenter(backend)

    def __call__(self, image: Image, color: str = "bgr") -> np.ndarray:
        """The class mask of `image`: uint8 H×W, one class index per pixel, the image's own size.

        image: an H×W×3 uint8 array (gray H×W and 4-channel arrays are accepted too), or a file path.
        color: the channel order of an array: "bgr" (OpenCV's: `cv2.imread`, `cv2.VideoCapture`) or
            "rgb" (PIL, imageio, matplotlib). A file path is read by `edgeseg.runtime.images.read_image`, as
            every edgeseg command reads it (16-bit scaled, alpha dropped, EXIF orientation applied); `color`
            does not apply.
        """
        if self._backend is None:
            raise EdgesegError(f"{self.name} was closed (its `with` block ended); load it again")
        return self._segmenter(_to_bgr(image, color))

    @property
    def has_confidence(self) -> bool:
        """Whether `predict` can give a confidence: the model returns logits, or was exported with --confidence."""
        return self._segmenter.has_confidence

    def predict(self, image: Image, color: str = "bgr", *, confidence: bool = True) -> SegmentationResult:
        """The segmentation of `image` as a result: mask, confidence, shares per class, polygons on request.

        result.mask is what `model(image)` returns. result.confidence is the top class's probability per pixel
        (float32, the image's size) where the model can give one (`has_confidence`), else None; confidence=False
        skips it (it costs a softmax over the logits on the host). `result.to_dict()` is the JSON form
        `edgeseg run --jsonl` writes. image and color: as for `model(image)`.
        """
        captured = time.time()
        bgr = _to_bgr(image, color)
        return self._predict(bgr, captured, confidence and self.has_confidence, name=_name_of(image))

    def _predict(
        self, bgr: np.ndarray, captured: float, confidence: bool, *, index: int = 0, name: str = ""
    ) -> SegmentationResult:
        if self._backend is None:
            raise EdgesegError(f"{self.name} was closed (its `with` block ended); load it again")
        segmenter, seconds = self._segmenter, {}
        started = time.perf_counter()
        tensor, placement = segmenter.prepare(bgr)
        seconds["pre"], started = time.perf_counter() - started, time.perf_counter()
        output = segmenter.infer_outputs(tensor)
        seconds["infer"], started = time.perf_counter() - started, time.perf_counter()
        if confidence:
            mask, confidence_map = segmenter.finish_with_confidence(output, placement)
            probability = confidence_map.at_image()
        else:
            mask, confidence_map, probability = segmenter.finish(output.scores, placement), None, None
        seconds["post"] = time.perf_counter() - started
        names = self.metadata.class_names
        return SegmentationResult(mask, names, probability, index, name, captured, seconds, bgr, 0, confidence_map)

    def overlay(self, image: Image, mask: np.ndarray, color: str = "bgr", alpha: float = 0.7) -> np.ndarray:
        """`image` with `mask` blended in the model's palette (background left as is), in `color` order.

        alpha: the weight of the image in the blend (0.7, as `edgeseg run`).
        """
        bgr = _to_bgr(image, color)
        if not isinstance(mask, np.ndarray) or mask.shape != bgr.shape[:2] or mask.dtype != np.uint8:
            got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise EdgesegError(f"the mask must be uint8 {bgr.shape[:2]} (the image's height × width), got {got}")
        renderer = Renderer(self.metadata.class_names, self.metadata.palette, alpha=alpha)
        drawn = renderer.draw(bgr, mask)
        return cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB) if color == "rgb" else drawn

    def stream(
        self, source: str | int, *, color: str = "bgr", max_frames: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, mask) for each frame of `source`, in order.

        source: a video file, an image or a folder of images, a camera index, csi://N, v4l2:///dev/videoN,
            rtsp://… (what `edgeseg run --source` takes). Frames come in `color` order ("bgr" by default).
        One frame at a time; `edgeseg run` overlaps capture, inference and drawing for more frames per second.
        """
        _check_color(color)
        frames = open_source(source)
        try:
            count = 0
            for frame in frames:
                if max_frames is not None and count >= max_frames:
                    break
                if frame.image is None:
                    continue  # unreadable (a corrupt file in a folder): skipped, as `edgeseg run` does
                count += 1
                mask = self(frame.image)
                yield (cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB) if color == "rgb" else frame.image), mask
        finally:
            frames.close()

    def stream_many(
        self,
        sources: Sequence[str | int],
        *,
        color: str = "bgr",
        max_frames: int | None = None,
        batch_timeout: float | None = None,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(stream_index, frame, mask) for the frames of several sources, as they finish.

        Each source is read on its own thread and their frames go through the network together, as one batch
        (a model exported with --dynamic-batch; otherwise the streams take turns), as `edgeseg run --source A
        --source B` does. stream_index is the source's position in `sources`. A live source keeps only its newest
        frame when the caller is slower than the camera; a file gives every frame. max_frames: per stream.
        batch_timeout: seconds a batch waits for streams with no frame yet (default: one frame time).
        Stopping early (break) stops the streams; a source that fails ends with its error once the others end.
        """
        from edgeseg.runtime.loop import RunLoop
        from edgeseg.runtime.sources import stream_names

        _check_color(color)
        if self._backend is None:
            raise EdgesegError(f"{self.name} was closed (its `with` block ended); load it again")
        opened: list = []
        try:
            for source in sources:
                opened.append(open_source(source))
        except BaseException:
            for stream in opened:
                stream.close()
            raise
        handoff = _Handoff()
        renderer = Renderer(self.metadata.class_names, self.metadata.palette)
        names = stream_names(list(sources))
        loop = RunLoop(
            opened, self._segmenter, renderer, [handoff], max_frames=max_frames, banner=False, names=names,
            batch_timeout=batch_timeout, warn=lambda message: None,
        )  # fmt: skip
        handoff.stop = loop.stop
        runner = threading.Thread(target=handoff.run, args=(loop,), name="stream_many", daemon=True)
        runner.start()
        try:
            for record in handoff:
                image = cv2.cvtColor(record.image, cv2.COLOR_BGR2RGB) if color == "rgb" else record.image
                yield record.stream, image, record.mask
        finally:
            loop.request_stop()
            handoff.drain()
            runner.join()
        if handoff.error is not None:
            raise handoff.error

    def results(
        self, source: str | int, *, confidence: bool = True, max_frames: int | None = None
    ) -> Iterator[SegmentationResult]:
        """A `predict` result for each frame of `source`, in order, with its index, name and capture time.

        source: as for `stream`. result.image is the frame (BGR). One frame at a time, like `stream`.
        """
        frames = open_source(source)
        wanted = confidence and self.has_confidence
        try:
            iterator, count = iter(frames), 0
            while max_frames is None or count < max_frames:
                started = time.perf_counter()
                frame = next(iterator, None)
                if frame is None:
                    break
                if frame.image is None:
                    continue  # unreadable (a corrupt file in a folder): skipped, as `edgeseg run` does
                read = time.perf_counter() - started
                result = self._predict(frame.image, frame.timestamp, wanted, index=frame.index, name=frame.name)
                result.seconds = {"capture": read, **result.seconds}
                count += 1
                yield result
        finally:
            frames.close()

    def serve(
        self,
        source: str | int,
        *,
        port: int = 8080,
        host: str = "127.0.0.1",
        token: str | None = None,
        fps: float = 15.0,
        view: str = "overlay",
        max_frames: int | None = None,
        stop: threading.Event | None = None,
        on_ready: Callable[[str], None] | None = None,
    ) -> RunStats:
        """Segment `source` and show it live in a browser, as `edgeseg run --serve` does; blocks until the run ends.

        source: what `stream` takes. port, host: where the page listens (127.0.0.1: this machine only; "0.0.0.0"
            every network; port 0 picks a free one). token: required on every request (?token=…, or an
            `Authorization: Bearer` header). fps: most frames a second sent to the page. view: the page's
            default view (overlay, mask, side).
        The socket is bound before the source opens: a port in use raises EdgesegError at once. on_ready(url) is
        called once the page serves (the URL has the real port). The run ends at the end of the source, after
        max_frames, when `stop` is set (from another thread), or on Ctrl-C / SIGTERM in the main thread; the
        page closes with it. Returns the run's statistics (`.summary()` is what /stats.json showed).
        """
        from edgeseg.runtime.loop import RunLoop
        from edgeseg.runtime.render import VIEWS
        from edgeseg.runtime.web import ServeAddress, open_page

        backend = self._open_backend()
        if view not in VIEWS:
            raise EdgesegError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise EdgesegError(f"port must be a whole number from 0 to 65535 (0: any free port), got {port!r}")
        meta = self.metadata
        with open_page(ServeAddress(host, port), token=token, fps=fps) as page:
            frames = open_source(source)
            renderer = Renderer(meta.class_names, meta.palette, view=view)
            about = {"model": self.name, "backend": type(backend).__name__, "input_size": meta.input_size}
            page.start(class_names=meta.class_names, palette=meta.palette, about=about)
            loop = RunLoop(frames, self._segmenter, renderer, [page.output()], max_frames=max_frames)
            page.watch(loop.stats)
            if on_ready is not None:
                on_ready(page.url)
            ended = threading.Event()
            if stop is not None:
                threading.Thread(target=_stop_when, args=(stop, ended, loop.request_stop), daemon=True).start()
            try:
                return loop.run()
            finally:
                ended.set()

    def _open_backend(self) -> Backend:
        if self._backend is None:
            raise EdgesegError(f"{self.name} was closed (its `with` block ended); load it again")
        return self._backend

    def close(self) -> None:
        """Free what the model holds (ONNX Runtime session, TensorRT engine and device buffers)."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        size = "×".join(map(str, self.metadata.input_size))
        return f"<edgeseg model {self.name}: {self.metadata.model}, {self.metadata.num_classes} classes, {size}>"


class _Handoff:
    """The run loop's output for `stream_many`: records passed to the caller's thread through a short queue."""

    name, live = "caller", False
    _END = object()

    def __init__(self) -> None:
        self.records: queue.Queue = queue.Queue(maxsize=4)
        self.stop: threading.Event | None = None
        self.error: BaseException | None = None
        self.ended = False  # the end marker has been taken

    def run(self, loop: Any) -> None:
        try:
            loop.run()
        except BaseException as exc:
            self.error = exc
        finally:
            self._put(self._END)

    def _put(self, item: Any) -> None:
        while True:  # the caller may have stopped reading: then the loop is stopping and nothing waits for this
            try:
                self.records.put(item, timeout=0.05)
                return
            except queue.Full:
                if item is not self._END and self.stop is not None and self.stop.is_set():
                    return

    def write(self, record: Any) -> None:
        self._put(record)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.records.get()
            if item is self._END:
                self.ended = True
                return
            yield item

    def drain(self) -> None:
        """Empty the queue so a loop blocked handing over a record can see that it should stop."""
        while not self.ended:
            try:
                self.ended = self.records.get(timeout=0.05) is self._END
            except queue.Empty:
                continue

    def close(self) -> None:
        pass


def _name_of(image: Image) -> str:
    return Path(image).name if isinstance(image, (str, Path)) else ""


def _stop_when(stop: threading.Event, ended: threading.Event, request_stop: Callable[[], None]) -> None:
    """Stop the run once `stop` is set; return when the run has ended by itself."""
    while not ended.is_set():
        if stop.wait(0.1):
            request_stop()
            return


def _check_color(color: str) -> None:
    if color not in COLOR_ORDERS:
        raise EdgesegError(f"color must be 'bgr' or 'rgb', got {color!r}")


def _to_bgr(image: Image, color: str) -> np.ndarray:
    """A BGR uint8 H×W×3 array from what a caller passes, or an error saying what was wrong."""
    _check_color(color)
    if isinstance(image, (str, Path)):
        return read_image(image)  # the reader every command uses: 16-bit, alpha, palette, CMYK, EXIF alike
    if not isinstance(image, np.ndarray):
        raise EdgesegError(f"expected an image array (H×W×3 uint8) or a path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        # .astype(np.uint8) alone would wrap 16-bit values around 256, not scale them
        hint = (
            "pass the file's path (16-bit files are scaled to 8 bits as every command reads them), or divide by 257"
            if image.dtype == np.uint16
            else "scale it to 0–255 and convert with .astype(np.uint8)"
        )
        raise EdgesegError(f"expected a uint8 image (0–255), got {image.dtype}: {hint}")
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if color == "rgb" else image
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR if color == "rgb" else cv2.COLOR_BGRA2BGR)
    raise EdgesegError(f"expected an H×W×3 image, got shape {image.shape}")
