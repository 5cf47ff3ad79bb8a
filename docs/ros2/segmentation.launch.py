"""A camera and the edgeseg segmentation node, in the /front namespace.

    source /opt/ros/humble/setup.bash
    ros2 launch docs/ros2/segmentation.launch.py model:=$HOME/models/model.engine

edgeseg is installed with pip, not built as an ament package, so the node is started as a process (the `edgeseg`
command of the venv that holds it; `edgeseg_command:=/path/to/venv/bin/edgeseg` where that is not on PATH). The
camera is ros2's `v4l2_camera`, publishing /front/image_raw and /front/camera_info; any driver that publishes a
sensor_msgs/Image works: change `image_topic`. The masks come out as /front/segmentation/class_mask, color_mask,
overlay, confidence and camera_info (docs/ros2.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ARGUMENTS = {
    "model": ("", "the exported model: .engine on a Jetson, .onnx elsewhere"),
    "edgeseg_command": ("edgeseg", "the edgeseg command (the venv's bin/edgeseg)"),
    "video_device": ("/dev/video0", "the camera"),
    "mask_size": ("input", "input: masks at the camera's size; network: at the model's"),
}


def generate_launch_description() -> LaunchDescription:
    camera = Node(
        package="v4l2_camera",
        executable="v4l2_camera_node",
        namespace="front",
        parameters=[{"video_device": LaunchConfiguration("video_device"), "image_size": [640, 480]}],
    )
    # fmt: off
    segmentation = ExecuteProcess(
        cmd=[
            LaunchConfiguration("edgeseg_command"), "ros2",
            "--model", LaunchConfiguration("model"),
            "--name", "segmentation",
            "--ros-args",
            "-r", "__ns:=/front",
            "-p", "image_topic:=image_raw",
            "-p", "camera_info_topic:=camera_info",
            "-p", ["mask_size:=", LaunchConfiguration("mask_size")],
        ],
        output="screen",
    )
    # fmt: on
    declared = [
        DeclareLaunchArgument(name, default_value=value, description=text) for name, (value, text) in ARGUMENTS.items()
    ]  # fmt: skip
    return LaunchDescription([*declared, camera, segmentation])
