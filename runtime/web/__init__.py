"""The live page of `edgeseg run --serve`: watch a headless device's segmentation in a browser.

`open_page` checks the address and token and binds the socket at once; `PageServer.start` serves once the
model's classes are known; `PageServer.output()` is the live output the run loop feeds (docs/architecture.md,
"The run loop"). Standard library only (http.server), so it runs wherever the lean runtime does.
"""

from __future__ import annotations

from typing import Callable

from edgeseg.runtime.web.address import ServeAddress, check_token, parse_serve
from edgeseg.runtime.web.server import PageOutput, PageServer, _stderr

DEFAULT_FPS = 15.0

__all__ = ["DEFAULT_FPS", "PageOutput", "PageServer", "ServeAddress", "open_page"]


def open_page(
    serve: str | ServeAddress,
    *,
    token: str | None = None,
    fps: float = DEFAULT_FPS,
    warn: Callable[[str], None] = _stderr,
) -> PageServer:
    """Bind the page's socket now (a port in use fails here, before the camera opens) and say who can see it."""
    address = serve if isinstance(serve, ServeAddress) else parse_serve(serve)
    server = PageServer(address, token=check_token(token), fps=fps, warn=warn)
    if address.everywhere:
        guard = "it asks for the --serve-token" if token else "add --serve-token to require a token"
        warn(
            f"warning: --serve {address}: the live stream is visible on the network, to anyone who can reach this "
            f"machine on port {server.port}; {guard}"
        )
    return server
