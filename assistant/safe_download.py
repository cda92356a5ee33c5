"""HTTP downloads from URLs a provider handed us, only from public addresses.

An image provider answers with a URL that this server then fetches. A hostile or
compromised provider could point it at this server's own network (loopback, the cloud
metadata service at 169.254.169.254, a database on 10.x), so the host is resolved once, every
address is checked, and the connection goes to the checked address itself: a DNS answer that
changes between the check and the connection (rebinding) cannot slip through. TLS still
verifies the certificate for the host name in the URL (SNI), and the Host header keeps it.

settings.IMAGE_DOWNLOAD_ALLOW_PRIVATE allows private addresses (a local image server, the
tests' loopback fake).
"""

import asyncio
import ipaddress
import socket

import httpx2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address a gateway may connect to on our behalf.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(httpx2.ConnectError):
    """The URL's host is, or resolves to, an address that is not public."""


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Whether `address` is globally routable unicast: not loopback, private, link-local,
    shared (CGNAT), multicast, reserved or unspecified, nor an IPv6 form of one of those."""
    inner = embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` resolves to (itself when it is an address literal)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # sockaddr[0] of an IPv6 link-local answer may carry a "%scope" suffix.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class PublicAddressTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that connects only to the public address it checked.

    Every request's host is resolved here; if any address is not public the request is
    refused with AddressRefused, otherwise the request goes to the first address, with the
    original Host header and TLS server name. Proxies from the environment are not used
    (an httpx2 client given a transport mounts none): a proxy would resolve the name itself.
    """

    def __init__(self, *, allow_private: bool = False) -> None:
        self._allow_private = allow_private
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpx2.ConnectError(f"{host} could not be resolved.", request=request) from exc
        if not addresses:
            raise httpx2.ConnectError(f"{host} could not be resolved.", request=request)
        if not self._allow_private:
            refused = [a for a in addresses if not is_public(a)]
            if refused:
                raise AddressRefused(
                    f"{host} resolves to {refused[0]}, which is not a public address.",
                    request=request,
                )
        request.url = request.url.copy_with(host=str(addresses[0]))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
