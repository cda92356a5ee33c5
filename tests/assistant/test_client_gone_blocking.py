"""A blocking send whose client goes away once the turn is stored: the turn still runs to its
end, as a streamed one does (the handler starts it; the view only waits for it)."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from assistant.api import tool_views, views
from assistant.turn_runner.tasks import local_turn
from conversations.models import Message
from tests.fakes.openai_server import reply

pytestmark = pytest.mark.django_db(transaction=True)


async def _post_and_go_away(async_client, user, monkeypatch, *, module, name, url, body):
    """POST `url`, and cancel the request (as Django does when the client disconnects) once
    the handler has started the turn (`module.name` returned) but before the view waits."""
    started, release = threading.Event(), threading.Event()
    start = getattr(module, name)

    def start_then_hold(*args, **kwargs):
        waiter = start(*args, **kwargs)
        started.set()
        release.wait(5)
        return waiter

    monkeypatch.setattr(module, name, start_then_hold)
    _, key = await sync_to_async(api_token_create)(user=user, name="t")
    request = asyncio.ensure_future(
        async_client.post(
            url, body, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
        )
    )
    assert await asyncio.to_thread(started.wait, 5)
    request.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await request
    reply_id = await sync_to_async(
        lambda: Message.objects.get(role=Message.Role.ASSISTANT, conversation__owner=user).pk
    )()
    task = local_turn(reply_id)
    assert task is not None, "the stored turn is not running"
    await asyncio.wait({task}, timeout=10)
    return await sync_to_async(Message.objects.get)(pk=reply_id)


async def test_a_chat_whose_client_went_away_still_completes(
    async_client, user, llm_upstream, monkeypatch
):
    llm_upstream.enqueue(reply("まだ続きます"))
    stored = await _post_and_go_away(
        async_client,
        user,
        monkeypatch,
        module=views,
        name="turn_completion",
        url="/api/chat/",
        body={"message": "こんにちは"},
    )
    assert (stored.status, stored.content) == (Message.Status.COMPLETE, "まだ続きます")


async def test_an_assistant_call_whose_client_went_away_still_completes(
    async_client, user, llm_upstream, monkeypatch
):
    llm_upstream.enqueue(reply("答えです"))
    stored = await _post_and_go_away(
        async_client,
        user,
        monkeypatch,
        module=tool_views,
        name="assistant_start",
        url="/api/assistant/",
        body={"message": "天気は？"},
    )
    assert (stored.status, stored.content) == (Message.Status.COMPLETE, "答えです")
