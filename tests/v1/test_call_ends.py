"""A /v1 call always ends: its reply stored with an end status, its reservation released,
its conversation free, whatever happens to the provider's answer or the client."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from assistant.live.liveness import running
from assistant.openai_compat import views
from assistant.openai_compat.storage import call_start
from conversations.models import Conversation, Message
from tests.fakes.openai_server import raw
from usage.models import TurnReservation, UsageRecord

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


async def test_a_client_gone_while_the_call_starts_ends_it_cancelled_uncharged(
    async_client, key, user, llm_upstream, monkeypatch
):
    committed, release = threading.Event(), threading.Event()

    def start_then_hold(**kwargs):
        call = call_start(**kwargs)  # stored, reserved
        committed.set()
        release.wait(5)  # the thread is still busy when the client goes
        return call

    monkeypatch.setattr(views, "call_start", start_then_hold)
    request = asyncio.ensure_future(
        async_client.post(
            "/v1/chat/completions",
            data=BODY,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
    )
    assert await asyncio.to_thread(committed.wait, 5)
    request.cancel()  # as Django does when the client disconnects
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await request

    @sync_to_async
    def stored():
        conversation = Conversation.objects.get(owner=user)
        reply = conversation.messages.get(role=Message.Role.ASSISTANT)
        return (
            reply,
            conversation.active_turn_id,
            TurnReservation.objects.exists(),
            UsageRecord.objects.exists(),
        )

    reply, active_turn, reserved, charged = await stored()
    assert reply.status == Message.Status.CANCELLED
    assert (active_turn, reserved, charged) == (None, False, False)
    assert str(reply.pk) not in running.here()
    assert llm_upstream.chat_requests() == []
