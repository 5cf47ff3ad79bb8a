"""Drawing a segmentation: colour overlay, mask, or side by side, with an FPS / latency banner."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeseg.errors import EdgesegError, require

cv2 = require("cv2", extra="cv")

VIEWS = ("overlay", "mask", "side")


class Renderer:
    """Colours masks with the model's palette (BGR frames in, BGR images out).

    alpha: weight of the original image in the overlay (the report's blend uses 0.7).
    classes: names of the classes to colour; the others (and background) show the image as is.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        palette: Sequence[Sequence[int]],
        *,
        view: str = "overlay",
        alpha: float = 0.7,
        classes: Sequence[str] | None = None,
    ) -> None:
        if view not in VIEWS:
            raise EdgesegError(f"--view must be one of {', '.join(VIEWS)}, got {view!r}")
        if not 0 <= alpha <= 1:
            raise EdgesegError(f"--alpha must be between 0 and 1, got {alpha}")
        self.view, self.alpha = view, alpha
        self.class_names = list(class_names)
        # Lookup tables, applied with cv2.LUT (SIMD): class → BGR colour, and class → shown or not.
        self.lut = np.zeros((256, 1, 3), np.uint8)
        self.lut[: len(palette), 0] = np.asarray(palette, np.uint8)[:, ::-1]  # RGB → BGR
        self.rgb_lut = np.ascontiguousarray(self.lut[..., ::-1])
        shown = set(range(1, len(class_names)))
        if classes:
            unknown = [c for c in classes if c not in class_names]
            if unknown:
                raise EdgesegError(
                    f"--classes: {', '.join(unknown)} not among the model's classes: {', '.join(class_names)}"
                )
            shown = {class_names.index(c) for c in classes}
        self.hidden = np.full(256, 255, np.uint8)
        self.hidden[list(shown)] = 0

    def colour(self, mask: np.ndarray, rgb: bool = False) -> np.ndarray:
        """The mask in the palette's colours, BGR (or RGB: a table of its own, since reversing the channels of the
        result afterwards is a strided copy that costs more than the colouring)."""
        # One pass from the 1-channel mask (OpenCV ≥ 4.1); merging 3 copies first and LUT-ing those
        # costs twice as long for the same pixels.
        return cv2.applyColorMap(mask, self.rgb_lut if rgb else self.lut)

    def draw(
        self, frame: np.ndarray, mask: np.ndarray, banner: str | None = None, view: str | None = None
    ) -> np.ndarray:
        """`frame` with `mask` drawn in `view` (this renderer's own by default), and `banner` on top."""
        view = view or self.view
        if view not in VIEWS:
            raise EdgesegError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        coloured = self.colour(mask)
        if view == "mask":
            out = coloured
        else:
            out = cv2.addWeighted(frame, self.alpha, coloured, 1 - self.alpha, 0)
            cv2.copyTo(frame, cv2.LUT(mask, self.hidden), out)  # unblended where the class is not shown
            if view == "side":
                out = np.concatenate([frame, out], axis=1)
        if banner:
            out = np.ascontiguousarray(out)
            draw_banner(out, banner)
        return out


def draw_banner(image: np.ndarray, text: str) -> None:
    """`text` in white on a dark box at the top left of `image` (in place): legible over any frame.

    The box darkens what is under it to a quarter rather than hiding it, so the scene still shows through;
    white text over at most a quarter brightness keeps a contrast of 4:1 or more on a white frame.
    """
    font, scale, thickness, margin, pad = cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1, 6, 5
    (width, height), baseline = cv2.getTextSize(text, font, scale, thickness)
    box = image[margin : margin + height + baseline + 2 * pad, margin : margin + width + 2 * pad]
    box //= 4  # a view: darkens the frame in place, clipped to the frame where it is smaller than the box
    origin = (margin + pad, margin + pad + height)
    cv2.putText(image, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
