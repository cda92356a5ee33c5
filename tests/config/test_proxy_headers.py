"""X-Forwarded-For is believed only from TRUSTED_PROXIES: in the middleware, and over a real
daphne process started with the Dockerfile's own options."""

import http.client
import json
import re
from pathlib import Path

import pytest

from config.proxy_headers import TrustedProxyMiddleware

ROOT = Path(__file__).resolve().parents[2]


async def seen_scope(settings, *, peer: str, headers: dict[str, str], kind: str = "http"):
    """The scope the application behind the middleware receives."""
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)

    scope = {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "client": [peer, 50000],
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await TrustedProxyMiddleware(app)(scope, None, None)
    return seen


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(settings):
    settings.TRUSTED_PROXIES = []
    scope = await seen_scope(
        settings,
        peer="203.0.113.9",
        headers={"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"},
    )
    assert scope["client"] == ["203.0.113.9", 50000] and scope["scheme"] == "http"

    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    scope = await seen_scope(settings, peer="10.0.0.6", headers={"X-Forwarded-For": "127.0.0.1"})
    assert scope["client"] == ["10.0.0.6", 50000]


async def test_a_trusted_proxy_names_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "::1"]
    scope = await seen_scope(
        settings,
        peer="10.0.0.5",
        headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"},
    )
    assert scope["client"] == ("198.51.100.7", 0) and scope["scheme"] == "https"
    # The right-most untrusted entry: what a client writes in front of it is ignored.
    scope = await seen_scope(
        settings,
        peer="::1",
        headers={"X-Forwarded-For": "127.0.0.1, 198.51.100.7, 10.0.0.9"},
        kind="websocket",
    )
    assert scope["client"] == ("198.51.100.7", 0)
    # A malformed entry makes the client unknown, never the (trusted, maybe loopback) proxy.
    scope = await seen_scope(settings, peer="10.0.0.5", headers={"X-Forwarded-For": "nonsense"})
    assert scope["client"] is None


def test_a_malformed_trusted_proxy_stops_the_settings(monkeypatch):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "TRUSTED_PROXIES": "10.0.0.0/33"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "TRUSTED_PROXIES" in result.stderr


def dockerfile_daphne_options() -> list[str]:
    """The Dockerfile's daphne options other than the address, port and application."""
    command = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M)[1])
    assert command[0] == "daphne" and command[-1] == "config.asgi:application"
    options, rest = [], command[1:-1]
    while rest:
        option = rest.pop(0)
        if option in ("--bind", "-b", "--port", "-p"):
            rest.pop(0)
        else:
            options.append(option)
    return options


def metrics_status(server, *, source: str, forwarded_for: str | None) -> int:
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=10, source_address=(source, 0)
    )
    try:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        connection.request("GET", "/metrics", headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_metrics_over_daphne_believe_only_the_trusted_proxy(spawn_kaiwa):
    # 127.0.0.2 plays the proxy; /metrics without a token answers loopback clients only.
    server = spawn_kaiwa(
        "proxies",
        daphne_args=tuple(dockerfile_daphne_options()),
        TRUSTED_PROXIES="127.0.0.2",
        METRICS_TOKEN="",
    )
    # Any other peer claiming to be 127.0.0.1 is not believed.
    assert metrics_status(server, source="127.0.0.3", forwarded_for="127.0.0.1") == 404
    # The proxy speaks for its clients: a loopback one, then an outside one.
    assert metrics_status(server, source="127.0.0.2", forwarded_for="127.0.0.1") == 200
    assert metrics_status(server, source="127.0.0.2", forwarded_for="198.51.100.7") == 404
    # A loopback peer that is not a proxy is itself the client, whatever it claims.
    assert metrics_status(server, source="127.0.0.1", forwarded_for="198.51.100.7") == 200


def test_throttles_identify_clients_by_remote_addr_not_a_header(rf):
    from assistant.limits import SendThrottle

    request = rf.post("/api/chat/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert SendThrottle().get_ident(request) == "203.0.113.9"
