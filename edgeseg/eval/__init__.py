"""Evaluation: confusion matrices, segmentation metrics, and running a model over a split."""
