"""Fixtures for the OpenAI-compatible routes: a live daphne, a user and their token."""

import pytest

from accounts.services import api_token_create
from tests.factories import UserFactory


@pytest.fixture
def token(live):
    """A user (committed: the live server sees it) and one of their API tokens."""
    user = UserFactory()
    _, plaintext = api_token_create(user=user, name="sdk")
    return user, plaintext


@pytest.fixture
def sdk(live, token):
    """The official `openai` client pointed at Kaiwa, with a Kaiwa token as its key."""
    import openai

    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=token[1], max_retries=0)
    yield client
    client.close()
