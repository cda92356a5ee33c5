"""Fixtures of the assistant tests."""

import pytest

from assistant import runner


@pytest.fixture
def runner_loads(monkeypatch) -> list:
    """Every time a runner has to read its turn's context itself (another trip to a database
    thread before the model is called): whoever starts a turn should hand it over."""
    calls = []
    original = runner._load

    async def recording(reply_id, overrides):
        calls.append(reply_id)
        return await original(reply_id, overrides)

    monkeypatch.setattr(runner, "_load", recording)
    return calls
