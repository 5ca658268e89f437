"""Load only what you own: targets off the loopback range need an explicit ``--allow-remote``."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from crmload.core.errors import SafetyError, TargetError


def redact(url: str) -> str:
    """The URL without user:password (for meta.json, logs and reports)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def host_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(
            f"target {redact(url)!r} is not an http(s) URL; give e.g. http://127.0.0.1:8080 or 'embedded'"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is on the loopback range."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise TargetError(f"cannot resolve target host {host!r}: {exc}") from None
    addrs = {info[4][0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addrs)


def check_target_allowed(url: str, allow_remote: bool, allowed_hosts: list[str] | None = None) -> bool:
    """Raise :class:`SafetyError` for a non-loopback target not explicitly allowed; True when remote."""
    host, _port = host_of(url)
    if is_loopback(host):
        return False
    if allow_remote or (allowed_hosts and host in allowed_hosts):
        return True
    raise SafetyError(
        f"refusing to load {host}: it is not on the loopback range. crmload only loads systems you "
        "own; if you own this one, pass --allow-remote (you will be shown the planned peak load "
        "first)"
    )


def tcp_reachable(host: str, port: int, timeout_s: float = 3.0) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except TimeoutError:
        raise TargetError(
            f"target {host}:{port} did not accept a connection within {timeout_s:g} s "
            "(unreachable, or a firewall drops the packets)"
        ) from None
    except OSError as exc:
        raise TargetError(f"target {host}:{port} is unreachable: {exc.strerror or exc}") from None


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers and Locust masters of our own)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
