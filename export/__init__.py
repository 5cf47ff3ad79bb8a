"""Checkpoint → ONNX → TensorRT engine, with metadata and task-level parity checks."""
