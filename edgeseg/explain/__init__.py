"""Grad-CAM for segmentation: which image regions drove a class, layer by layer."""
