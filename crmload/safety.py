"""Load only what you own: targets off the loopback range need an explicit ``--allow-remote``."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from crmload.core.errors import SafetyError, TargetError

# query and fragment parameters whose values are secrets (OAuth2 implicit grants put tokens in the fragment)
SECRET_PARAMS = re.compile(r"(token|key|secret|password|passwd|pwd|auth|session|sig|signature|code|credential)", re.I)


def _redact_params(text: str) -> str:
    if not text:
        return text
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs:
        return text
    return urlencode([(k, "***" if SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="*")


def redact(url: str) -> str:
    """The URL without user:password and without the values of secret-looking query or fragment
    parameters (``?token=``, ``#access_token=``): for meta.json, logs, reports and messages."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    netloc = parts.netloc
    if parts.username or parts.password:
        netloc = f"***@{parts.hostname or ''}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_params(parts.query), _redact_params(parts.fragment)))


def secrets_of(url: str) -> list[str]:
    """The secret pieces of a URL — user:password, the password, secret parameters' values — longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if parts.password:
        found += [f"{parts.username or ''}:{parts.password}", parts.password]
        found += [unquote(parts.password)]
    for text in (parts.query, parts.fragment):
        found += [v for k, v in parse_qsl(text, keep_blank_values=True) if SECRET_PARAMS.search(k) and len(v) >= 4]
    return sorted({f for f in found if f}, key=len, reverse=True)


def scrub(text: str, url: str | None) -> str:
    """``text`` with every secret piece of ``url`` replaced by ``***`` (error messages that quote it)."""
    if not url:
        return text
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text


def host_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(
            f"target {redact(url)!r} is not an http(s) URL; give e.g. http://127.0.0.1:8080 or 'embedded'"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetError(
            f"target {redact(url)!r}: its port is not a number between 1 and 65535 — fix: e.g. http://127.0.0.1:8080"
        ) from None
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
