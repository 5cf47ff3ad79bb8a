"""Figures of `edgeseg explain`: real PNGs, and a blank CAM labelled as such rather than drawn as noise."""

from __future__ import annotations

import cv2
import numpy as np

from edgeseg.explain.figures import _cam_title, row_figure, save_figure, save_sweep


def test_blank_cam_is_labelled_no_positive_evidence(tmp_path):
    assert _cam_title("3. conv5_3", np.zeros((8, 8), np.float32)) == "3. conv5_3\n(no positive evidence)"
    assert _cam_title("3. conv5_3", np.eye(8, dtype=np.float32)) == "3. conv5_3"
    image = np.full((48, 64, 3), 120, np.uint8)
    cams = {"shallow": np.eye(48, 64, dtype=np.float32), "deep": np.zeros((48, 64), np.float32)}
    save_sweep(tmp_path / "sweep.png", image, cams, "title")
    figure = cv2.imread(str(tmp_path / "sweep.png"))
    assert figure is not None and figure.shape[1] > 2 * 64


def test_row_figure_names_the_layer_it_shows(tmp_path):
    image = np.full((48, 64, 3), 120, np.uint8)
    palette = np.zeros((256, 3), np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    cam = np.eye(48, 64, dtype=np.float32)
    fig = row_figure(image, mask, palette, cam, "a.png: circle", "decoder's last layer (fuse.1.5)", "hirescam")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["image", "prediction", "overlay", "hirescam at decoder's last layer (fuse.1.5)"]
    assert fig._suptitle.get_text() == "a.png: circle"
    blank = row_figure(image, mask, palette, np.zeros_like(cam), "a.png: circle", "block 17")
    assert blank.axes[3].get_title() == "gradcam at block 17\n(no positive evidence)"
    for index, figure in enumerate((fig, blank)):
        save_figure(figure, tmp_path / f"row{index}.png")
        assert cv2.imread(str(tmp_path / f"row{index}.png")) is not None
