"""Recovery of replies whose runner died, and only those: a busy runner is not dead."""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from assistant.db_threads import in_db_thread
from assistant.live import liveness
from assistant.live.liveness import running
from assistant.live.store import RedisStore, alive_key
from assistant.reply_lifecycle import recover_stale_replies
from assistant.turn_runner.tasks import spawn_turn
from assistant.turns import turn_start
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.openai_server import reply
from tests.live_server import redis_available

pytestmark = pytest.mark.django_db(transaction=True)


def _streaming_reply(user, *, heartbeat_age: float) -> Message:
    conversation = ConversationFactory(owner=user)
    message = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content="途中まで",
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
    )
    Conversation.objects.filter(pk=conversation.pk).update(active_turn=message)
    return message


def test_a_stale_reply_without_a_live_runner_is_interrupted_with_its_text(user, settings):
    settings.STREAM_STALE_AFTER_SECONDS = 5
    stale = _streaming_reply(user, heartbeat_age=60)
    fresh = _streaming_reply(user, heartbeat_age=1)
    assert recover_stale_replies() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "interrupted" and stale.content == "途中まで"
    assert fresh.status == "streaming"
    assert Conversation.objects.get(pk=stale.conversation_id).active_turn_id is None


def test_a_reply_this_process_runs_is_kept_until_its_runner_ends(user, settings):
    settings.STREAM_STALE_AFTER_SECONDS = 0.5
    message = _streaming_reply(user, heartbeat_age=60)  # database heartbeat long overdue
    running.add(message.pk)
    try:
        time.sleep(0.3)  # with Redis, the liveness thread has renewed it meanwhile
        assert recover_stale_replies(conversation_id=message.conversation_id) == 0
    finally:
        running.discard(message.pk)
    time.sleep(0.6)  # with Redis, what the thread published lapses after the threshold
    assert recover_stale_replies(conversation_id=message.conversation_id) == 1


@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
def test_a_reply_another_process_runs_is_kept_while_that_process_says_so(user, settings):
    """Another process's liveness thread publishes its running replies to Redis with a ttl;
    here the other process is played by writing what its thread writes."""
    settings.STREAM_STALE_AFTER_SECONDS = 5
    settings.REDIS_URL = "redis://127.0.0.1:6379/13"
    message = _streaming_reply(user, heartbeat_age=60)
    other_process = RedisStore(settings.REDIS_URL)
    other_process.set_flags([alive_key(message.pk)], ttl=0.5)
    assert recover_stale_replies(conversation_id=message.conversation_id) == 0
    time.sleep(0.6)  # that process died: nobody renews it
    assert recover_stale_replies(conversation_id=message.conversation_id) == 1


def test_a_turn_whose_database_work_queues_past_the_threshold_is_not_interrupted(
    llm_upstream, user, settings
):
    """Overload: the reply's first database call waits longer than the stale threshold
    while readers look at the conversation. The runner is alive; the reply must finish."""
    settings.STREAM_STALE_AFTER_SECONDS = 0.4
    llm_upstream.enqueue(reply("遅れても完了"))
    turn = turn_start(user=user, content="混雑", conversation=ConversationFactory(owner=user))
    Message.objects.filter(pk=turn.reply.pk).update(
        created_at=timezone.now() - timedelta(seconds=5)
    )

    @in_db_thread
    def other_database_work():
        time.sleep(0.3)

    async def scenario():
        # The turn database threads are busy with earlier work for over a second: the
        # runner's first database call queues behind it while readers look.
        busy = [asyncio.ensure_future(other_database_work()) for _ in range(16)]
        await asyncio.sleep(0.05)
        task = spawn_turn(turn.reply.pk)
        for _ in range(6):
            await asyncio.sleep(0.2)
            await sync_to_async(recover_stale_replies)(conversation_id=turn.conversation.pk)
        await asyncio.gather(*busy)
        return await task

    outcome = async_to_sync(scenario)()
    assert outcome.status == "complete"
    turn.reply.refresh_from_db()
    assert turn.reply.status == "complete" and turn.reply.content == "遅れても完了"


def test_without_the_live_store_the_database_heartbeat_decides(user, settings, monkeypatch):
    settings.STREAM_STALE_AFTER_SECONDS = 5
    message = _streaming_reply(user, heartbeat_age=60)

    def unreachable(ids):
        raise ConnectionError("redis is away")

    monkeypatch.setattr(liveness, "alive_among", unreachable)
    assert recover_stale_replies(conversation_id=message.conversation_id) == 1
