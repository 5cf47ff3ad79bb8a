"""Segmentation models: importing this package registers every architecture."""

from edgeseg.models import deeplabv3plus, pidnet, unet, unet_classic  # noqa: F401  (registration)
from edgeseg.models.base import Backbone, SegmentationModel
from edgeseg.models.layers import UPSAMPLE_MODES
from edgeseg.models.registry import build_model, list_models, rebuild_model, register_model

__all__ = [
    "UPSAMPLE_MODES",
    "Backbone",
    "SegmentationModel",
    "build_model",
    "list_models",
    "rebuild_model",
    "register_model",
]
