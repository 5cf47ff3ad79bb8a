"""edgeseg: semantic segmentation from PyTorch training to a live camera on an NVIDIA Jetson."""

__version__ = "0.1.0"
