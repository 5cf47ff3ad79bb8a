"""The boundary losses of PIDNet's training (Xu et al., CVPR 2023), with boundaries derived from the labels.

A model with a boundary head (PIDNet's D branch) returns its logits in training as outputs["boundary"]; the
trainer's loss (edgeseg/train/losses.py) adds the two terms below to the segmentation loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgeseg.data.voc import IGNORE_INDEX

BOUNDARY_RADIUS = 2  # a label change marks the pixels within 2 of it: a band about 4 pixels wide
BOUNDARY_THRESHOLD = 0.8  # the boundary-aware CE looks at pixels the head is this sure lie on a boundary


def label_boundaries(target: torch.Tensor, radius: int = BOUNDARY_RADIUS) -> torch.Tensor:
    """(N, H, W) bool: pixels with another label within `radius` (a (2r+1)² window).

    255 (ignore) counts as a label of its own: VOC-format data, `edgeseg data synth`'s included, marks each
    object's outline with a band of 255, so the band's edges are where the objects' boundaries are. (So does an
    augmentation's padding: its edge is marked too.) The authors run Canny on the label image and dilate it,
    which gives a band of about the same width.
    """
    labels = target.unsqueeze(1).float()
    window = 2 * radius + 1
    highest = F.max_pool2d(labels, window, stride=1, padding=radius)
    lowest = -F.max_pool2d(-labels, window, stride=1, padding=radius)
    return (highest != lowest).squeeze(1)


def weighted_boundary_bce(logits: torch.Tensor, boundaries: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of (N, 1, H, W) boundary logits, each class weighted by the other's share of the
    batch's pixels, so the few boundary pixels weigh as much as the many others."""
    positive = boundaries.unsqueeze(1).to(logits.dtype)
    share = positive.mean()
    weight = torch.where(positive > 0, 1 - share, share)
    return F.binary_cross_entropy_with_logits(logits, positive, weight=weight)


def boundary_aware_target(target: torch.Tensor, boundary_logits: torch.Tensor) -> torch.Tensor:
    """`target` where the boundary head is surer than BOUNDARY_THRESHOLD that a pixel lies on a boundary, 255
    (ignore) elsewhere: the labels of the boundary-aware CE, which trains the final head
    hardest exactly there. No gradient flows into the boundary head through this choice."""
    on_boundary = torch.sigmoid(boundary_logits.detach().squeeze(1).float()) > BOUNDARY_THRESHOLD
    return torch.where(on_boundary, target, torch.full_like(target, IGNORE_INDEX))
