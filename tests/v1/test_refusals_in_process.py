"""Refusals that need no model call, through Django's test client (the async views)."""

import json

import pytest

from accounts.services import api_token_create
from conversations.models import Conversation

# transaction: the views run their database work in other threads (channels closes
# connections around it).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(user):
    return api_token_create(user=user, name="sdk")[1]


def _with(**fields):
    return {"model": "demo", "messages": [{"role": "user", "content": "x"}], **fields}


def _post(client, key, body, **headers):
    return client.post(
        "/v1/chat/completions",
        data=body if isinstance(body, bytes) else json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def test_an_oversized_body_is_refused_in_openai_shape(client, key, settings):
    # The limit: MAX_REQUEST_BODY_BYTES, plus one ATTACHMENT_MAX_BYTES image in base64.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.ATTACHMENT_MAX_BYTES = 750
    body = {"model": "demo", "messages": [{"role": "user", "content": "x" * 2000}]}
    response = _post(client, key, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
    assert not Conversation.objects.exists()


def test_a_method_other_than_post_is_405_in_openai_shape(client, key):
    response = client.get("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        ({"model": "demo", "messages": []}, "messages"),
        ({"model": "demo", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            {"model": "demo", "messages": [{"role": "user", "content": "a\x00"}]},
            "messages[0].content",
        ),
        (
            {
                "model": "demo",
                "messages": [
                    {"role": "system", "content": "x"},
                    {"role": "user", "content": [{"type": "text", "text": "a\x00"}]},
                ],
            },
            "messages[1].content",
        ),
        (_with(max_tokens="abc"), "max_tokens"),
        (_with(max_tokens={}), "max_tokens"),
        (_with(max_tokens=-5), "max_tokens"),
        (_with(max_tokens=0), "max_tokens"),
        (_with(max_tokens=True), "max_tokens"),
        (_with(max_tokens=10**9), "max_tokens"),
        (_with(max_completion_tokens=1.5), "max_completion_tokens"),
    ],
)
def test_malformed_requests_are_400_with_the_param(client, key, body, param):
    response = _post(client, key, body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert not Conversation.objects.exists()


def test_a_malformed_conversation_header_is_404(client, key):
    body = {"model": "demo", "messages": [{"role": "user", "content": "x"}]}
    response = _post(client, key, body, **{"X-Kaiwa-Conversation": "not-a-uuid"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_demo_backend_relays_too(client, key, user):
    body = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}
    response = _post(client, key, body)
    assert response.status_code == 200
    answer = response.json()["choices"][0]["message"]["content"]
    assert answer
    conversation = Conversation.objects.get(owner=user)
    assert conversation.messages.order_by("created_at").last().content == answer


def test_max_tokens_within_the_cap_is_relayed(client, key, settings):
    settings.LLM_MAX_TOKENS_CAP = 50
    assert _post(client, key, _with(max_tokens=50)).status_code == 200
    assert _post(client, key, _with(max_tokens=51)).status_code == 400
