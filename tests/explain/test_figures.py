"""Figures of `edgeseg explain`: real PNGs, and a blank CAM labelled as such rather than drawn as noise."""

from __future__ import annotations

import cv2
import numpy as np

from edgeseg.explain.figures import _cam_title, save_sweep


def test_blank_cam_is_labelled_no_positive_evidence(tmp_path):
    assert _cam_title("3. conv5_3", np.zeros((8, 8), np.float32)) == "3. conv5_3\n(no positive evidence)"
    assert _cam_title("3. conv5_3", np.eye(8, dtype=np.float32)) == "3. conv5_3"
    image = np.full((48, 64, 3), 120, np.uint8)
    cams = {"shallow": np.eye(48, 64, dtype=np.float32), "deep": np.zeros((48, 64), np.float32)}
    save_sweep(tmp_path / "sweep.png", image, cams, "title")
    figure = cv2.imread(str(tmp_path / "sweep.png"))
    assert figure is not None and figure.shape[1] > 2 * 64
