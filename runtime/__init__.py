"""The lean inference runtime: numpy, OpenCV and an inference backend, never torch or onnx.

A Jetson installs edgeseg without PyTorch and runs exported models through this package
(docs/architecture.md, rule 1); tests/runtime/test_lean_import.py proves it imports with torch blocked.
"""
