"""docs/ros2/segmentation.launch.py: the command it starts is one `edgeseg ros2` accepts, with the parameters it means.

ROS 2's `launch` package is not installable here, so the file is read, not launched: its ExecuteProcess command is
taken from the source, launch arguments replaced by their defaults, and given to the real CLI and to the node's
parameter reading through the rclpy double (tests/runtime/fake_rclpy.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from . import fake_rclpy

LAUNCH = Path(__file__).parents[2] / "docs" / "ros2" / "segmentation.launch.py"


def _command(model: Path) -> list[str]:
    """The launch file's ExecuteProcess cmd, LaunchConfiguration(name) as its default (model: `model`)."""
    tree = ast.parse(LAUNCH.read_text(encoding="utf-8"))
    defaults = {name: value for name, (value, _) in ast.literal_eval(_assigned(tree, "ARGUMENTS")).items()}
    defaults["model"] = str(model)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "ExecuteProcess")
    cmd = next(k.value for k in call.keywords if k.arg == "cmd")

    def value(node: ast.expr) -> str:
        if isinstance(node, ast.Call):  # LaunchConfiguration("name")
            return defaults[ast.literal_eval(node.args[0])]
        if isinstance(node, ast.List):  # a list of substitutions is their concatenation
            return "".join(value(part) for part in node.elts)
        return ast.literal_eval(node)

    return [value(part) for part in cmd.elts]


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    return next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == name)


def test_the_launch_command_is_one_the_cli_accepts(run_edgeseg, tiny_onnx):
    command = _command(tiny_onnx)
    assert command[:2] == ["edgeseg", "ros2"]
    result = run_edgeseg(*command[1:])
    # Everything up to ROS 2 itself is accepted: no usage error (exit 2), no model or option complaint.
    assert result.returncode == 1 and "needs ROS 2's rclpy" in result.stderr, result.stderr


def test_the_launch_parameters_are_the_nodes(monkeypatch, tiny_onnx):
    from edgeseg.runtime.ros2_node import NodeSettings
    from edgeseg.runtime.ros2_rclpy import RclpyPort

    fake_rclpy.install(monkeypatch)
    command = _command(tiny_onnx)
    port = RclpyPort(command[command.index("--name") + 1], args=["edgeseg", *command[command.index("--ros-args") :]])
    try:
        settings = NodeSettings.from_port(port)
    finally:
        port.close()
    topics = (settings.image_topic, settings.camera_info_topic)
    assert topics == ("image_raw", "camera_info") and settings.mask_size == "input"


@pytest.mark.parametrize("argument", ["model", "edgeseg_command", "video_device", "mask_size"])
def test_every_launch_argument_is_used(argument):
    assert f'LaunchConfiguration("{argument}")' in LAUNCH.read_text(encoding="utf-8")
