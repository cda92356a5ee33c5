"""Pytest fixtures for the loopback fakes.

Load with ``pytest_plugins = ["tests.fakes.fixtures"]``.
"""

from collections.abc import Iterator

import pytest

from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started FakeOpenAIServer (fresh per test); stopped afterwards."""
    server = FakeOpenAIServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_oidc() -> Iterator[FakeOIDCProvider]:
    """A started FakeOIDCProvider (fresh keys per test); stopped afterwards."""
    with FakeOIDCProvider() as provider:
        yield provider
