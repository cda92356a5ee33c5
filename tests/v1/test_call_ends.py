"""A /v1 call always ends: its reply stored with an end status, its reservation released,
its conversation free, whatever happens to the provider's answer or the client."""

import json

import pytest

from accounts.services import api_token_create
from assistant.live.liveness import running
from conversations.models import Conversation, Message
from tests.fakes.openai_server import raw
from usage.models import TurnReservation

# transaction: the views run their database work in other threads.
pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def key(user):
    return api_token_create(user=user, name="sdk")[1]


def _post(client, key, **headers):
    return client.post(
        "/v1/chat/completions",
        data=json.dumps(BODY),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def test_an_unreadable_answer_ends_the_call_failed_with_a_502(client, key, user, llm_upstream):
    llm_upstream.enqueue(raw(body={"choices": [None]}))

    response = _post(client, key)

    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("api_error", "upstream_error")
    conversation = Conversation.objects.get(owner=user)
    reply = conversation.messages.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.FAILED
    assert str(reply.pk) not in running.here()
    assert not TurnReservation.objects.exists()
    # The conversation is not busy: the next call in it is answered.
    again = _post(client, key, **{"X-Kaiwa-Conversation": str(conversation.pk)})
    assert again.status_code == 200, again.content
