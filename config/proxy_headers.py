"""The client's address behind a reverse proxy, believed only from TRUSTED_PROXIES.

A request that arrives from an address in settings.TRUSTED_PROXIES (IPs or networks) is
taken to be proxied: its client is the right-most X-Forwarded-For entry that is not itself a
trusted proxy, and X-Forwarded-Proto: https marks it secure. From any other peer both
headers are ignored and the client is the peer, so no one can claim to be 127.0.0.1 (the
address /metrics answers without a token) by sending a header.

This ASGI middleware replaces daphne's --proxy-headers, which believes X-Forwarded-For from
every peer. It rewrites scope["client"], so Django's REMOTE_ADDR, DRF's throttles
(NUM_PROXIES = 0) and Channels consumers all see the same address.
"""

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """TRUSTED_PROXIES as networks (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Any, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def _header(scope: dict, name: bytes) -> str:
    values = [value for key, value in scope.get("headers", []) if key.lower() == name]
    return ",".join(value.decode("latin-1") for value in values)


def forwarded_client(scope: dict, networks: tuple[Network, ...]) -> tuple[str, int] | None:
    """The client of a request whose peer is a trusted proxy, from X-Forwarded-For.

    Walks the list from the right (the entry our proxy added) past trusted proxies; the
    first other entry is the client. If every entry is trusted, the left-most one is. A
    malformed entry makes the client unknown (None), never the proxy itself.
    """
    entries = [entry.strip() for entry in _header(scope, b"x-forwarded-for").split(",")]
    entries = [entry for entry in entries if entry]
    if not entries:
        return tuple(scope["client"])  # the proxy sent no header: the proxy is the client
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return None
        if not _is_trusted(address, networks):
            return (str(address), 0)
    return (str(_address(entries[0])), 0)


class TrustedProxyMiddleware:
    """ASGI middleware: scope["client"] (and "scheme") from a trusted proxy's headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            networks = trusted_networks(tuple(settings.TRUSTED_PROXIES))
            if networks and _is_trusted(_address(str(scope["client"][0])), networks):
                scope = dict(scope, client=forwarded_client(scope, networks))
                proto = _header(scope, b"x-forwarded-proto").rsplit(",", 1)[-1].strip().lower()
                if proto in ("http", "https"):
                    secure = proto == "https"
                    if scope["type"] == "http":
                        scope["scheme"] = "https" if secure else "http"
                    else:
                        scope["scheme"] = "wss" if secure else "ws"
        await self.app(scope, receive, send)
