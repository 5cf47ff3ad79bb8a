"""Backbones written in edgeseg with torchvision's parameter names (torchvision stays optional)."""

from edgeseg.models.backbones.mobilenetv2 import MobileNetV2
from edgeseg.models.backbones.resnet import ResNet50
from edgeseg.models.backbones.vgg import VGG16
from edgeseg.models.backbones.weights import load_backbone_weights

__all__ = ["VGG16", "MobileNetV2", "ResNet50", "load_backbone_weights"]
