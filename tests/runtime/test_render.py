"""The run banner: drawn once, white on a dark box, so it reads over a white frame as well as a dark one."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.runtime.render import Renderer

BANNER = "25.8 FPS  infer 35.1 ms"


@pytest.mark.parametrize("background", [255, 20])
def test_banner_is_white_text_on_a_dark_box_over_any_frame(background):
    renderer = Renderer(["bg", "a"], [[0, 0, 0], [255, 0, 0]])
    frame = np.full((120, 320, 3), background, np.uint8)
    out = renderer.draw(frame, np.zeros((120, 320), np.uint8), BANNER)
    changed = np.argwhere((out != frame).any(axis=2))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    assert 0 < top < 20 and 0 < left < 20 and right - left > 100  # a box at the top left, as wide as the text
    box = out[top : bottom + 1, left : right + 1].max(axis=2)
    text = box > 200
    assert 0.05 < text.mean() < 0.5  # white strokes, not a filled bar
    assert np.median(box) <= 64  # on a dark ground: at most a quarter of full brightness
    assert (out[bottom + 2 :] == frame[bottom + 2 :]).all()  # nothing drawn outside the box


def test_banner_fits_a_frame_smaller_than_its_box():
    renderer = Renderer(["bg", "a"], [[0, 0, 0], [255, 0, 0]])
    out = renderer.draw(np.full((10, 12, 3), 255, np.uint8), np.zeros((10, 12), np.uint8), BANNER)
    assert out.shape == (10, 12, 3) and out[9, 11].tolist() == [63, 63, 63]
