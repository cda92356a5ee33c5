"""Which addresses an image download may connect to."""

import ipaddress

import httpx2
import pytest

from assistant.safe_download import PublicAddressTransport, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",  # unspecified
        "224.0.1.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",  # link-local
        "fc00::1",  # unique local
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address):
    assert is_public(ipaddress.ip_address(address))


async def test_the_download_ignores_proxies_of_the_environment(fake_openai, monkeypatch):
    # A proxy would resolve the host itself, past the address check.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = fake_openai.serve_bytes("/files/direct.png", b"direct")
    transport = PublicAddressTransport(allow_private=True)
    async with httpx2.AsyncClient(transport=transport) as client:
        response = await client.get(url.replace("127.0.0.1", "localhost"))
    assert response.content == b"direct"
    (seen,) = [r for r in fake_openai.requests if r.path == "/files/direct.png"]
    assert seen.headers["host"] == url.split("/")[2].replace("127.0.0.1", "localhost")
