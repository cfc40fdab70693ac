"""``serve --listen HOST:PORT``: parsing it and binding the socket before the server
starts, so a bad address or a port in use is a one-line error at once."""

from __future__ import annotations

import ipaddress
import socket

from cnbsdk.keep.model import KeepError

DEFAULT_LISTEN = "127.0.0.1:8765"


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` -> (host, port); port 0 is any free port."""
    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise KeepError(
            f"{value!r} is not HOST:PORT (for example 127.0.0.1:8765, [::1]:8765, or port 0 "
            "for any free port)",
            field="--listen",
        )
    return host, int(port_text)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise KeepError(
            f"cannot listen on {host}:{port}: {error.strerror}", field="--listen"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise KeepError(
            f"cannot listen on {host}:{port}: {error.strerror or error}", field="--listen"
        ) from None
    sock.set_inheritable(False)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a bound socket, with the real port."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def is_loopback(sock: socket.socket) -> bool:
    host = sock.getsockname()[0]
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
