"""Where the page listens, checked and bound before anything slow starts: `[HOST:]PORT` and an optional token.

`edgeseg run --serve` binds its socket before the model loads and the camera opens, so a port in use, a host
that is not this machine's or a token that cannot work is one line and a non-zero exit within a second, not
after a TensorRT engine has loaded (docs/architecture.md, rule 7).
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from dataclasses import dataclass

from edgeseg.errors import EdgesegError

DEFAULT_HOST = "127.0.0.1"  # only this machine: reach it from another over an SSH tunnel, or pass 0.0.0.0
MIN_TOKEN = 8
_TOKEN = re.compile(r"[A-Za-z0-9._~-]+")  # URL-safe as is: it goes into ?token= and the page's own links
_SPEC = re.compile(r"^(?:(\[[^\]]*\]|[^:\[\]]*):)?([^:]*)$")


@dataclass(frozen=True)
class ServeAddress:
    """Where to listen: `host` as given (a name or an address), `port` (0: any free port)."""

    host: str
    port: int

    @property
    def everywhere(self) -> bool:
        """True for an address that other machines reach (0.0.0.0, ::, a LAN address): the stream is public."""
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a name: localhost is loopback, anything else is reachable from elsewhere
            return self.host != "localhost"

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_serve(text: str, option: str = "--serve") -> ServeAddress:
    """`8080`, `0.0.0.0:8080`, `localhost:8080`, `[::1]:8080` → a ServeAddress; anything else is one line."""
    match = _SPEC.match(text.strip())
    wanted = f"{option} takes [HOST:]PORT, e.g. 8080, 0.0.0.0:8080 or [::1]:8080"
    if not match:
        raise EdgesegError(f"{wanted}; got {text!r}")
    host, port_text = match.group(1), match.group(2)
    if host is not None:
        host = host[1:-1] if host.startswith("[") else host
        if not host:
            raise EdgesegError(f"{wanted}; got {text!r} (no host before the colon)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise EdgesegError(f"{wanted}; the port must be a number from 0 to 65535 (0: any free port), got {text!r}")
    return ServeAddress(host or DEFAULT_HOST, int(port_text))


def check_token(token: str | None, option: str = "--serve-token") -> str | None:
    """A token the page can require: at least 8 URL-safe characters (letters, digits, - . _ ~)."""
    if token is None:
        return None
    if len(token) < MIN_TOKEN or not _TOKEN.fullmatch(token):
        wrong = f"got {len(token)}" if len(token) < MIN_TOKEN else "got other characters"
        raise EdgesegError(
            f"{option} must be at least {MIN_TOKEN} characters of letters, digits, '-', '.', '_' or '~' (it travels "
            f"in URLs), {wrong}; e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(16))'"
        )
    return token


def resolve(address: ServeAddress, option: str = "--serve") -> tuple[socket.AddressFamily, tuple]:
    """The socket family and address to bind, or one line saying the host is not usable."""
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise EdgesegError(
            f"{option} {address}: cannot resolve the host {address.host!r} ({_reason(exc)}); pass an address of "
            f"this machine: {DEFAULT_HOST} (the default), 0.0.0.0 (every network) or one of its own"
        ) from exc
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, sockaddr


def bind_error(address: ServeAddress, exc: OSError, option: str = "--serve") -> EdgesegError:
    """What to do when the socket cannot be bound, by cause."""
    where = f"{option} {address}"
    if exc.errno == errno.EADDRINUSE:
        return EdgesegError(
            f"{where}: port {address.port} is in use (another edgeseg run or server?); pass another port, "
            "or 0 for any free one"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return EdgesegError(
            f"{where}: {address.host} is not an address of this machine; pass {DEFAULT_HOST}, 0.0.0.0 or one "
            "of its own (ip addr shows them)"
        )
    if exc.errno == errno.EACCES:
        return EdgesegError(f"{where}: ports below 1024 need root; pass a port from 1024 up, e.g. 8080")
    return EdgesegError(f"{where}: cannot listen there ({exc.strerror or exc})")


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
