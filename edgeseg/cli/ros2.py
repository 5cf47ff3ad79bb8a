"""`edgeseg ros2`: the segmentation node on a ROS 2 machine (rclpy from ROS 2 Humble or Jazzy)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def ros2(
    ctx: typer.Context,
    model: Path = typer.Option(..., help="A .engine/.plan (TensorRT), .onnx (ONNX Runtime) or .pt (PyTorch)."),
    name: str = typer.Option("edgeseg", help="The node's name: its outputs are ~/class_mask … under it."),
    provider: Optional[str] = typer.Option(None, help="ONNX Runtime provider: tensorrt, cuda or cpu [default: best]."),
) -> None:
    """Run the segmentation node: subscribes to sensor_msgs/Image, publishes masks with the input's header.

    ROS arguments follow, as for any node: --ros-args -p image_topic:=/camera/image_raw -p mask_size:=network
    -r __ns:=/front. Parameters: image_topic, camera_info_topic, mask_size (input|network), alpha, classes, reliable
    (docs/ros2.md).
    """
    from edgeseg.errors import EdgesegError
    from edgeseg.runtime.backends import check_provider, open_model
    from edgeseg.runtime.ros2_node import NodeSettings, SegmentationNode
    from edgeseg.runtime.ros2_rclpy import RclpyPort
    from edgeseg.runtime.segmenter import Segmenter

    if not model.is_file():  # the cheap checks first, then ROS 2, then the model's long load
        raise EdgesegError(f"model not found: {model}")
    check_provider(provider, None)
    port = RclpyPort(name, args=["edgeseg", *ctx.args])
    try:
        settings = NodeSettings.from_port(port)
        with open_model(model, provider=provider, spin=False) as backend:
            node = SegmentationNode(port, Segmenter(backend), settings)
            port.log("info", f"segmenting {settings.image_topic} with {model.name} ({backend.metadata.model})")
            try:
                port.spin()
            finally:
                node.close()
            counts = node.counts
            typer.echo(
                f"{counts.processed} images segmented of {counts.received} received; skipped {counts.skipped} "
                f"(a newer one arrived first), unreadable {counts.unreadable}, failed {counts.failed} (logged)"
            )
    finally:
        port.close()
