"""An RTSP server in record mode, for the test of `--save rtsp://…`: it accepts a published H.264 stream at
/edgeseg, decodes it and writes each frame as a JPEG into a folder. gst-rtsp-server is the real RTSP server
library (MediaMTX plays the same part on a robot's network); it runs in the system Python, which has its bindings.

    /usr/bin/python3 rtsp_record_server.py PORT FOLDER   (prints "ready" once it listens)
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, folder = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
factory.set_launch(
    f"( rtph264depay name=depay0 ! h264parse ! avdec_h264 ! videoconvert ! jpegenc ! "
    f"multifilesink location={folder}/%05d.jpg )"
)
server.get_mount_points().add_factory("/edgeseg", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
