"""Where a conversation was started: `web` (a browser session), `api` (an API token on
Kaiwa's REST API), `v1` (the OpenAI-compatible routes, tests/v1/test_chat_completions.py)."""

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation
from tests.factories import bearer_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_rest_calls_with_a_token_start_api_conversations(user):
    client = bearer_client(user)
    assert client.post("/api/chat/", {"message": "hi"}, format="json").status_code == 200
    assert client.post("/api/conversations/", {"title": "t"}, format="json").status_code == 201
    assert list(Conversation.objects.values_list("source", flat=True)) == ["api", "api"]
    assert [
        c["source"] for c in client.get("/api/conversations/?source=api").json()["results"]
    ] == [
        "api",
        "api",
    ]


def test_a_browser_session_starts_web_conversations(user):
    session_client = APIClient()  # CSRF is not what this test is about
    session_client.force_login(user)
    assert session_client.post("/api/chat/", {"message": "hi"}, format="json").status_code == 200
    created = session_client.post("/api/conversations/", {"title": "t"}, format="json")
    assert created.status_code == 201
    assert list(Conversation.objects.values_list("source", flat=True)) == ["web", "web"]
