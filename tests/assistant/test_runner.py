"""The turn runner in-process: coalescing, bounded persistence, the event log."""

import logging

import pytest
from asgiref.sync import async_to_sync

from assistant.live.log import logged_events
from assistant.live.stop import request_stop
from assistant.turn_runner.tasks import run_turn_and_wait
from assistant.turns import turn_start
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply

pytestmark = pytest.mark.django_db(transaction=True)


def _events(message_id):
    return [e.as_log() for e in async_to_sync(logged_events)(message_id)]


def test_fast_deltas_are_coalesced_and_still_concatenate_exactly(llm_upstream, user, settings):
    settings.STREAM_COALESCE_MS = 30
    text = "".join(f"t{i} " for i in range(300))
    chunks = [f"t{i} " for i in range(300)]
    llm_upstream.enqueue(reply(text, chunks=chunks, interval=0.001))
    turn = turn_start(user=user, content="速く", conversation=ConversationFactory(owner=user))
    outcome = async_to_sync(run_turn_and_wait)(turn.reply.pk)
    assert outcome.status == "complete"
    events = _events(turn.reply.pk)
    deltas = [e for e in events if e["type"] == "message"]
    assert "".join(e["content"] for e in deltas) == text
    assert len(deltas) < len(chunks) / 3  # coalesced, not one event per token
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "start" and events[-1]["type"] == "done"
    turn.reply.refresh_from_db()
    assert turn.reply.content == text


def test_partial_reply_is_written_about_once_a_second(llm_upstream, user, settings, caplog):
    settings.STREAM_PERSIST_INTERVAL_SECONDS = 0.5
    chunks = [f"w{i} " for i in range(50)]
    llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.04))  # about 2 s
    turn = turn_start(user=user, content="ゆっくり", conversation=ConversationFactory(owner=user))
    with caplog.at_level(logging.INFO, logger="kaiwa.turns"):
        async_to_sync(run_turn_and_wait)(turn.reply.pk)
    finished = next(r for r in caplog.records if r.getMessage() == "turn_finished")
    # 50 tokens over ~2 s: a handful of periodic writes, not one per token.
    assert 2 <= finished.db_flushes <= 6
    assert finished.events <= 52


def test_replies_running_together_are_written_in_one_database_call(
    llm_upstream, user, settings, monkeypatch
):
    """One trip to a database thread (one transaction) per interval for all the replies of
    the process, not one per reply; each reply still gets its text and heartbeat."""
    import asyncio

    from assistant.turn_runner import persister

    settings.STREAM_PERSIST_INTERVAL_SECONDS = 0.1
    original = persister._save_partials
    batches = []

    async def recording(partials):
        batches.append([str(reply_id) for reply_id, _ in partials])
        await original(partials)

    monkeypatch.setattr(persister, "_save_partials", recording)
    turns = []
    for name in ("一", "二"):
        chunks = [f"{name}{i} " for i in range(20)]
        llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.04))  # ~0.8 s
        conversation = ConversationFactory(owner=user)
        turns.append(turn_start(user=user, content=name, conversation=conversation))

    async def both():
        return await asyncio.gather(*(run_turn_and_wait(t.reply.pk) for t in turns))

    assert [o.status for o in async_to_sync(both)()] == ["complete", "complete"]
    ids = {str(t.reply.pk) for t in turns}
    assert any(set(batch) == ids for batch in batches)  # both replies in one call
    assert all(len(batch) == len(set(batch)) for batch in batches)


def test_the_first_delta_is_not_delayed_by_coalescing(llm_upstream, user, settings):
    settings.STREAM_COALESCE_MS = 5000  # even with a huge window the first delta goes at once
    llm_upstream.enqueue(reply("ab", chunks=["a", "b"], interval=0.2))
    turn = turn_start(user=user, content="x", conversation=ConversationFactory(owner=user))
    async_to_sync(run_turn_and_wait)(turn.reply.pk)
    deltas = [e["content"] for e in _events(turn.reply.pk) if e["type"] == "message"]
    assert deltas == ["a", "b"]


def test_stop_is_recorded_even_when_the_stop_watcher_finishes_late(llm_upstream, user, monkeypatch):
    """Regression: the watcher still awaiting its group_discard must not make a stop look
    like a shutdown (the turn task then died without storing anything)."""
    import asyncio

    from channels.layers import get_channel_layer

    from assistant.turn_runner.tasks import spawn_turn

    layer = get_channel_layer()
    original_discard = layer.group_discard

    async def slow_discard(group, channel):
        await asyncio.sleep(0.2)
        await original_discard(group, channel)

    monkeypatch.setattr(layer, "group_discard", slow_discard)
    chunks = [f"s{i} " for i in range(40)]
    llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.05))
    turn = turn_start(user=user, content="止める", conversation=ConversationFactory(owner=user))

    async def scenario():
        task = spawn_turn(turn.reply.pk)
        while not any(e.type == "message" for e in await logged_events(turn.reply.pk)):
            await asyncio.sleep(0.02)
        await request_stop(turn.reply.pk)
        return await asyncio.wait_for(task, 10)

    outcome = async_to_sync(scenario)()
    assert outcome.status == "cancelled"
    turn.reply.refresh_from_db()
    assert turn.reply.status == "cancelled" and turn.reply.content
    assert turn.reply.conversation.active_turn_id is None


def test_a_failed_partial_write_neither_stops_the_writes_nor_the_finish(
    llm_upstream, user, settings, monkeypatch
):
    """A partial write that fails (the database away for a moment) is logged; later writes
    go on and the reply is still finished, charged and announced."""
    from assistant.turn_runner import persister

    settings.STREAM_PERSIST_INTERVAL_SECONDS = 0.05
    original = persister._save_partials
    calls = []

    async def fails_once(partials):
        calls.append(partials)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        await original(partials)

    monkeypatch.setattr(persister, "_save_partials", fails_once)
    chunks = [f"p{i} " for i in range(20)]
    llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.03))
    turn = turn_start(user=user, content="書き込み", conversation=ConversationFactory(owner=user))
    outcome = async_to_sync(run_turn_and_wait)(turn.reply.pk)
    assert outcome.status == "complete"
    assert len(calls) >= 2  # the writes went on after the failed one
    turn.reply.refresh_from_db()
    assert turn.reply.status == "complete" and turn.reply.content == "".join(chunks)
    assert turn.reply.conversation.active_turn_id is None
    assert _events(turn.reply.pk)[-1]["type"] == "done"


def test_nul_characters_in_the_models_reply_are_not_stored(llm_upstream, user, settings):
    """PostgreSQL's text cannot hold NUL: the partial writes and the finish drop it."""
    settings.STREAM_PERSIST_INTERVAL_SECONDS = 0.05
    chunks = ["a\u0000", "b ", "\u0000c"] + [f"n{i} " for i in range(10)]
    llm_upstream.enqueue(reply("".join(chunks), chunks=chunks, interval=0.03))
    turn = turn_start(user=user, content="NUL", conversation=ConversationFactory(owner=user))
    assert async_to_sync(run_turn_and_wait)(turn.reply.pk).status == "complete"
    turn.reply.refresh_from_db()
    assert turn.reply.content == "".join(chunks).replace("\u0000", "")
    assert turn.reply.content.startswith("ab c")
    assert _events(turn.reply.pk)[-1]["content"] == turn.reply.content
