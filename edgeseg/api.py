"""The Python API: `seg = edgeseg.load("model.onnx")`, then `mask = seg(image)`.

A thin layer over the lean runtime (the backends' `open_model`, `Segmenter`, `Renderer`, `open_source`):
the same pre- and post-processing as `edgeseg run`, so a script and the command give the same masks.
Only a .pt checkpoint needs torch; .onnx and .engine files load without it (what a Jetson has).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import numpy as np

from edgeseg.errors import EdgesegError, require
from edgeseg.runtime.backends import open_model
from edgeseg.runtime.backends.base import Backend
from edgeseg.runtime.metadata import ModelMetadata
from edgeseg.runtime.render import Renderer
from edgeseg.runtime.segmenter import Segmenter
from edgeseg.runtime.sources import open_source

if TYPE_CHECKING:
    from edgeseg.runtime.stats import RunStats

cv2 = require("cv2", extra="cv")

COLOR_ORDERS = ("bgr", "rgb")
Image = Union[np.ndarray, str, Path]  # an H×W×3 uint8 array, or an image file's path


def load(path: str | Path, *, provider: str | None = None, threads: int | None = None) -> Model:
    """Open a model: a TensorRT `.engine`/`.plan`, an ONNX `.onnx` or a PyTorch `.pt` checkpoint.

    provider: for .onnx files, the ONNX Runtime provider ("tensorrt", "cuda", "cpu"; default: the best
        one installed). threads: CPU threads for ONNX Runtime (default: one per core).
    Use the result as a context manager (`with edgeseg.load(...) as seg:`) to free the device when done.
    """
    return Model(open_model(path, provider=provider, threads=threads), name=Path(path).name)


class Model:
    """A loaded segmentation model: `mask = model(image)`.

    metadata: class names, palette (RGB per class), input size [height, width], mean/std and resize mode,
        as the artifact records them (the backend's `ModelMetadata`).
    """

    def __init__(self, backend: Backend, *, name: str = "model") -> None:
        self.metadata: ModelMetadata = backend.metadata
        self.name = name
        self._backend: Backend | None = backend
        self._segmenter = Segmenter(backend)

    def __call__(self, image: Image, color: str = "bgr") -> np.ndarray:
        """The class mask of `image`: uint8 H×W, one class index per pixel, the image's own size.

        image: an H×W×3 uint8 array (gray H×W and 4-channel arrays are accepted too), or a file path.
        color: the channel order of an array: "bgr" (OpenCV's: `cv2.imread`, `cv2.VideoCapture`) or
            "rgb" (PIL, imageio, matplotlib). A file path is read with OpenCV; `color` does not apply.
        """
        if self._backend is None:
            raise EdgesegError(f"{self.name} was closed (its `with` block ended); load it again")
        return self._segmenter(_to_bgr(image, color))

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
            for index, frame in enumerate(frames):
                if max_frames is not None and index >= max_frames:
                    break
                mask = self(frame.image)
                yield (cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB) if color == "rgb" else frame.image), mask
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
        read = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if read is None:
            raise EdgesegError(f"cannot read image {image} (missing, or not an image OpenCV can decode)")
        return read
    if not isinstance(image, np.ndarray):
        raise EdgesegError(f"expected an image array (H×W×3 uint8) or a path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise EdgesegError(f"expected a uint8 image (0–255), got {image.dtype}: convert with .astype(np.uint8)")
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if color == "rgb" else image
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR if color == "rgb" else cv2.COLOR_BGRA2BGR)
    raise EdgesegError(f"expected an H×W×3 image, got shape {image.shape}")
