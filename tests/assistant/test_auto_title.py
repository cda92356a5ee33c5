"""A conversation's title is written by the model after its first reply, in the background."""

import asyncio
import threading
import uuid
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async

from assistant.auto_title import clean_title, write_title
from conversations.models import Conversation
from conversations.services import conversation_update
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import FakeResponse, reply
from tests.live_server import session_cookie
from tests.streaming_clients import WS
from usage.models import UsageRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@dataclass
class Gated(FakeResponse):
    """`inner`, once the test opens `gate`: the upstream holds this call until then."""

    inner: FakeResponse
    gate: threading.Event

    async def render(self, ctx):
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 30)
        return await self.inner.render(ctx)


async def _conversation(pk) -> Conversation:
    return await sync_to_async(Conversation.objects.get)(pk=pk)


async def test_title_arrives_after_the_first_reply_without_delaying_it(spawn_kaiwa, upstream):
    server = spawn_kaiwa("titles", LLM_AUTO_TITLE="true", LLM_TITLE_MODEL="gpt-test-mini")
    owner = await sync_to_async(UserFactory)(username="titled")
    conversation = await sync_to_async(ConversationFactory)(owner=owner, title="")
    elsewhere = await sync_to_async(ConversationFactory)(owner=owner, title="another tab")
    cookie = await sync_to_async(session_cookie)(owner)
    gate = threading.Event()
    upstream.enqueue(reply("晴れです。"), Gated(reply("「東京の天気」", usage=(40, 5)), gate))

    tab = await WS.connect(server, conversation.id, cookie)
    other_tab = await WS.connect(server, elsewhere.id, cookie)
    try:
        await tab.send(
            {"type": "send", "content": "今日の東京の天気は？", "client_id": str(uuid.uuid4())}
        )
        done = await tab.until("done")
        # The reply ended while the title call is still held upstream.
        title_call = (await asyncio.to_thread(upstream.wait_for_requests, 2))[1]
        assert done["status"] == "complete"
        assert (await _conversation(conversation.id)).title == "今日の東京の天気は？"

        gate.set()
        announced = await other_tab.until("conversation_title")
        assert (await tab.until("conversation_title")) == announced
    finally:
        gate.set()
        await tab.close()
        await other_tab.close()

    assert announced == {
        "type": "conversation_title",
        "conversation_id": str(conversation.id),
        "title": "東京の天気",
    }
    stored = await _conversation(conversation.id)
    assert (stored.title, stored.title_source) == ("東京の天気", "model")
    assert title_call.json["model"] == "gpt-test-mini"
    assert title_call.json["max_tokens"] <= 30
    assert "今日の東京の天気は？" in title_call.messages[-1]["content"]
    charged = await sync_to_async(
        lambda: list(
            UsageRecord.objects.filter(user=owner, kind="title").values_list(
                "model", "prompt_tokens", "completion_tokens", "calls"
            )
        )
    )()
    assert charged == [("gpt-test-mini", 40, 5, 1)]


def test_a_title_the_user_set_is_never_asked_for(api_client, llm_upstream, user, settings):
    settings.LLM_AUTO_TITLE = True
    created = api_client.post("/api/conversations/", {"title": "私の題"}, format="json").json()
    llm_upstream.enqueue(reply("はい"))

    response = api_client.post(
        f"/api/conversations/{created['id']}/messages/", {"content": "こんにちは"}, format="json"
    )

    assert response.status_code in (200, 201), response.content
    assert len(llm_upstream.chat_requests()) == 1  # the reply only
    stored = Conversation.objects.get(pk=created["id"])
    assert (stored.title, stored.title_source) == ("私の題", "user")


async def test_a_rename_during_the_title_call_wins(llm_upstream, settings):
    owner = await sync_to_async(UserFactory)()
    conversation = await sync_to_async(ConversationFactory)(owner=owner, title="こんにちは")
    gate = threading.Event()
    llm_upstream.enqueue(Gated(reply("挨拶"), gate))

    task = asyncio.create_task(
        write_title(
            conversation_id=conversation.pk, user=owner, question="こんにちは", answer="やあ"
        )
    )
    await asyncio.to_thread(llm_upstream.wait_for_requests, 1)
    await sync_to_async(conversation_update)(conversation=conversation, title="自分で付けた題")
    gate.set()

    assert await task is None
    stored = await _conversation(conversation.pk)
    assert (stored.title, stored.title_source) == ("自分で付けた題", "user")
    # The call was made, so it is charged all the same.
    assert await sync_to_async(UsageRecord.objects.filter(user=owner, kind="title").exists)()


async def test_a_failed_title_call_keeps_the_first_words(llm_upstream):
    from tests.fakes.openai_server import error

    owner = await sync_to_async(UserFactory)()
    conversation = await sync_to_async(ConversationFactory)(owner=owner, title="最初の言葉")
    llm_upstream.enqueue(*[error(500)] * 3)

    assert (
        await write_title(conversation_id=conversation.pk, user=owner, question="q", answer="a")
        is None
    )
    assert (await _conversation(conversation.pk)).title == "最初の言葉"


@pytest.mark.parametrize(
    "answer, title",
    [
        ("「東京の天気」", "東京の天気"),
        ('"Weather in Tokyo."\nmore', "Weather in Tokyo"),
        ("  ", ""),
    ],
)
def test_clean_title(answer, title):
    assert clean_title(answer) == title


def test_a_title_is_due_only_from_a_real_model_for_an_unnamed_conversation(settings, user):
    from assistant.auto_title import wants_title
    from assistant.backends import reset_backend

    settings.LLM_AUTO_TITLE = True
    unnamed = ConversationFactory(owner=user, title="最初の言葉")
    named = ConversationFactory(owner=user, title="私の題", title_source="user")
    reset_backend()
    assert not wants_title(unnamed)  # the demo backend: its canned answer is no title

    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.openai.OpenAIBackend",
        "OPTIONS": {"api_key": "sk-test", "model": "gpt-test", "base_url": "http://127.0.0.1:9/v1"},
    }
    reset_backend()
    try:
        assert wants_title(unnamed)
        assert not wants_title(named)
        settings.LLM_AUTO_TITLE = False
        assert not wants_title(unnamed)
    finally:
        reset_backend()
