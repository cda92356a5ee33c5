"""Chat turns in the ledger, through the real SDK against the loopback fake: every model
round is charged (provider figures, or the local estimate when there are none), the
reservation is settled, and deleting or clearing conversations gives nothing back."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from assistant.context import estimate_tokens
from assistant.limits import tokens_used_today
from assistant.live.log import logged_events
from assistant.live.stop import request_stop
from assistant.reply_lifecycle import recover_stale_replies
from assistant.turn_runner.tasks import run_turn_and_wait, spawn_turn
from assistant.turns import turn_start
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory
from tests.fakes.openai_server import broken_stream, raw, reply, tool_calls
from usage.models import DailyUsage, TurnReservation, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


def chat_record(user) -> UsageRecord:
    return UsageRecord.objects.get(user=user, kind="chat")


def day_row(user) -> DailyUsage:
    return DailyUsage.objects.get(user=user, day=timezone.localdate())


def assert_settled(user, *, charged: int) -> None:
    row = day_row(user)
    assert (row.tokens, row.reserved_tokens) == (charged, 0)
    assert not TurnReservation.objects.filter(user=user).exists()


def test_a_turn_reserves_at_start_and_settles_to_the_providers_figures(
    api_client, llm_upstream, user
):
    llm_upstream.enqueue(reply("はい", usage=(30, 5)))
    conversation = ConversationFactory(owner=user)

    turn = turn_start(user=user, content="こんにちは", conversation=conversation)

    reservation = TurnReservation.objects.get(message_id=turn.reply.pk)
    assert reservation.tokens > 2000  # the context plus LLM_DEFAULT_MAX_TOKENS
    assert day_row(user).reserved_tokens == reservation.tokens
    assert tokens_used_today(user) == reservation.tokens  # the quota sees it at once

    assert async_to_sync(run_turn_and_wait)(turn.reply.pk).status == "complete"

    record = chat_record(user)
    assert (record.model, record.calls) == ("gpt-test", 1)
    assert (record.prompt_tokens, record.completion_tokens, record.estimated_tokens) == (30, 5, 0)
    assert_settled(user, charged=35)


def test_every_round_of_a_tool_turn_is_charged(api_client, llm_upstream, user):
    llm_upstream.enqueue(
        tool_calls([("save_note", {"title": "牛乳", "content": "買う"})], usage=(40, 10)),
        reply("保存しました。", usage=(60, 5)),
    )
    response = api_client.post("/api/chat/", {"message": "メモして"}, format="json")
    assert response.status_code == 200

    record = chat_record(user)
    assert (record.calls, record.prompt_tokens, record.completion_tokens) == (2, 100, 15)
    assert_settled(user, charged=115)


def test_deleting_or_clearing_conversations_never_changes_the_quota(
    api_client, llm_upstream, user, settings
):
    settings.DAILY_TOKEN_QUOTA = 100
    llm_upstream.enqueue(reply("一つ目", usage=(50, 10)), reply("二つ目", usage=(40, 5)))
    first = api_client.post("/api/chat/", {"message": "一"}, format="json").json()
    second = api_client.post("/api/chat/", {"message": "二"}, format="json").json()
    assert tokens_used_today(user) == 105

    cleared = api_client.post(f"/api/conversations/{first['conversation_id']}/clear/")
    assert cleared.status_code == 200 and cleared.json()["deleted"] == 2
    deleted = api_client.delete(f"/api/conversations/{second['conversation_id']}/")
    assert deleted.status_code == 204
    assert not Message.objects.filter(conversation__owner=user).exists()

    assert tokens_used_today(user) == 105
    assert chat_record(user).total_tokens == 105
    refused = api_client.post("/api/chat/", {"message": "三"}, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert len(llm_upstream.chat_requests()) == 2


def test_a_stopped_reply_is_charged_the_estimate_of_what_it_used(llm_upstream, user):
    chunks = [f"s{i} " for i in range(60)]
    llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.05))
    turn = turn_start(user=user, content="止める", conversation=ConversationFactory(owner=user))

    async def scenario():
        task = spawn_turn(turn.reply.pk)
        while not any(e.type == "message" for e in await logged_events(turn.reply.pk)):
            await asyncio.sleep(0.02)
        await request_stop(turn.reply.pk)
        return await asyncio.wait_for(task, 10)

    assert async_to_sync(scenario)().status == "cancelled"

    turn.reply.refresh_from_db()
    assert turn.reply.content  # the part that arrived
    record = chat_record(user)
    assert record.calls == 1 and record.model == "gpt-test"
    assert record.completion_tokens == estimate_tokens(turn.reply.content)
    assert record.prompt_tokens > 0  # system prompt and the user's message, estimated
    assert record.estimated_tokens == record.total_tokens
    assert_settled(user, charged=record.total_tokens)


def test_a_reply_failing_mid_stream_is_charged_the_estimate(api_client, llm_upstream, user):
    llm_upstream.enqueue(broken_stream("途中まで書い", chunks=["途中", "まで", "書い"]))
    conversation = ConversationFactory(owner=user)
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "長文で"}, format="json"
    )
    assert response.status_code in (502, 503)

    record = chat_record(user)
    assert record.completion_tokens == estimate_tokens("途中まで書い")
    assert record.prompt_tokens > 0
    assert record.estimated_tokens == record.total_tokens
    assert_settled(user, charged=record.total_tokens)


def _sse(*payloads) -> str:
    return "".join(f"data: {json.dumps(p, ensure_ascii=False)}\n\n" for p in payloads)


def test_a_failed_reply_is_charged_the_providers_figures_when_it_sent_them(
    api_client, llm_upstream, user
):
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test"}
    body = _sse(
        {**chunk, "choices": [{"index": 0, "delta": {"content": "途中"}, "finish_reason": None}]},
        {**chunk, "choices": [], "usage": {"prompt_tokens": 33, "completion_tokens": 7}},
        {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}},
    )
    llm_upstream.enqueue(raw(200, body, content_type="text/event-stream"))
    conversation = ConversationFactory(owner=user)
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "失敗する"}, format="json"
    )
    assert response.status_code == 502

    record = chat_record(user)
    assert (record.prompt_tokens, record.completion_tokens, record.estimated_tokens) == (33, 7, 0)
    assert_settled(user, charged=40)


def test_an_interrupted_reply_is_charged_the_estimate_and_its_reservation_released(user, settings):
    settings.STREAM_STALE_AFTER_SECONDS = 5
    turn = turn_start(user=user, content="続けて", conversation=ConversationFactory(owner=user))
    assert day_row(user).reserved_tokens > 0
    # The process died mid-reply: partial text, a heartbeat long overdue, no runner.
    Message.objects.filter(pk=turn.reply.pk).update(
        status=Message.Status.STREAMING,
        content="ここまで書いたところで",
        heartbeat_at=timezone.now() - timedelta(seconds=60),
    )

    assert recover_stale_replies() == 1
    assert recover_stale_replies() == 0  # nothing charged twice

    turn.reply.refresh_from_db()
    assert turn.reply.status == "interrupted"
    assert Conversation.objects.get(pk=turn.conversation.pk).active_turn_id is None
    record = chat_record(user)
    assert record.calls == 1
    assert record.completion_tokens == estimate_tokens("ここまで書いたところで")
    assert record.prompt_tokens > 0
    assert record.estimated_tokens == record.total_tokens
    assert_settled(user, charged=record.total_tokens)


def test_a_turn_refused_by_the_quota_reserves_nothing_and_stores_nothing(user, settings):
    from assistant.limits import Throttled
    from usage.services import usage_record

    settings.DAILY_TOKEN_QUOTA = 1000
    usage_record(user=user, kind="chat", model="gpt-test", prompt_tokens=1000)
    conversation = ConversationFactory(owner=user)
    with pytest.raises(Throttled):
        turn_start(user=user, content="まだ？", conversation=conversation)
    assert not conversation.messages.exists()
    assert_settled(user, charged=1000)


def test_a_call_the_provider_refused_is_not_charged_and_its_reservation_released(
    api_client, llm_upstream, user
):
    from tests.fakes.openai_server import error

    llm_upstream.enqueue(error(400))  # not retried by the SDK
    response = api_client.post("/api/chat/", {"message": "だめ"}, format="json")
    assert response.status_code == 502

    assert not UsageRecord.objects.filter(user=user).exists()
    assert_settled(user, charged=0)


def test_a_reply_recovered_while_its_runner_still_ran_is_charged_once_and_stays_interrupted(
    llm_upstream, user, settings, monkeypatch
):
    """Recovery judged the runner dead (its heartbeat late, its liveness unknown) and
    charged the estimate; the runner's own finish must then neither charge again nor
    flip the status back."""
    from asgiref.sync import sync_to_async

    settings.STREAM_STALE_AFTER_SECONDS = 5
    settings.STREAM_PERSIST_INTERVAL_SECONDS = 60  # no heartbeat from the runner
    monkeypatch.setattr("assistant.live.liveness.alive_among", lambda ids: set())
    chunks = [f"r{i} " for i in range(20)]
    llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.05, usage=(30, 20)))
    turn = turn_start(user=user, content="続けて", conversation=ConversationFactory(owner=user))

    def recover() -> int:
        Message.objects.filter(pk=turn.reply.pk).update(
            status=Message.Status.STREAMING,
            content="r0 ",
            created_at=timezone.now() - timedelta(seconds=60),
            heartbeat_at=timezone.now() - timedelta(seconds=60),
        )
        return recover_stale_replies()

    async def scenario():
        task = spawn_turn(turn.reply.pk)
        while not any(e.type == "message" for e in await logged_events(turn.reply.pk)):
            await asyncio.sleep(0.02)
        assert await sync_to_async(recover)() == 1
        return await asyncio.wait_for(task, 10)

    async_to_sync(scenario)()

    turn.reply.refresh_from_db()
    assert turn.reply.status == "interrupted" and turn.reply.content == "r0 "
    record = chat_record(user)
    assert record.calls == 1 and record.estimated_tokens == record.total_tokens
    assert_settled(user, charged=record.total_tokens)
    last = async_to_sync(logged_events)(turn.reply.pk)[-1]
    assert (last.type, last.code) == ("error", "interrupted")
