"""Live delivery inside one process: the local channel layer and late events on a socket."""

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from assistant import channel_layer as local_layer
from assistant.channel_layer import LocalChannelLayer
from assistant.live import fanout
from assistant.live import publisher as publisher_module
from assistant.live.groups import conversation_group
from assistant.live.liveness import Liveness
from assistant.live.log import logged_events
from assistant.live.publisher import ReplyPublisher
from assistant.live.store import RedisStore, alive_key
from assistant.reply_events import Delta
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply
from tests.live_server import redis_available
from tests.streaming_clients import in_process_socket


async def test_group_send_reaches_every_member_with_its_own_copy():
    layer = LocalChannelLayer()
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "reply.event", "event": {"seq": 1}})
    received = [await layer.receive(channel) for channel in channels]
    assert all(m == {"type": "reply.event", "event": {"seq": 1}} for m in received)
    received[0]["event"]["seq"] = 99  # one reader changing its message changes no other
    assert received[1]["event"]["seq"] == 1


async def test_a_full_member_misses_the_message_and_the_others_get_it():
    layer = LocalChannelLayer(capacity=1)
    full, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", full)
    await layer.group_add("g", other)
    await layer.send(full, {"type": "x", "n": 0})
    await layer.group_send("g", {"type": "x", "n": 1})
    assert (await layer.receive(full))["n"] == 0
    assert (await layer.receive(other))["n"] == 1


async def test_unread_messages_and_their_memberships_still_expire(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(local_layer.time, "monotonic", lambda: clock[0])
    layer = LocalChannelLayer(expiry=60)
    member = await layer.new_channel()
    await layer.group_add("g", member)
    for _ in range(100):
        await layer.group_send("g", {"type": "x"})

    # A minute later (by the layer's wall clock) the unread messages have expired, and a
    # send a second later (by the cleanup's clock) removes them and the membership.
    import channels.layers

    real_time = channels.layers.time.time
    monkeypatch.setattr(channels.layers.time, "time", lambda: real_time() + 120)
    clock[0] += local_layer.CLEANUP_INTERVAL_SECONDS
    await layer.group_send("g", {"type": "x"})
    assert member not in layer.groups.get("g", {})


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
async def test_with_redis_an_event_is_logged_and_broadcast_in_one_pipeline(settings, monkeypatch):
    """Through channels-redis's pub/sub layer, the publisher logs and broadcasts an event in
    one round trip, on the Redis channel the layer itself listens on for the group."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    url = "redis://127.0.0.1:6379/13"
    settings.REDIS_URL = url
    layer = RedisPubSubChannelLayer(hosts=[url])
    monkeypatch.setattr(publisher_module, "get_channel_layer", lambda: layer)
    conversation_id, message_id = uuid.uuid4(), uuid.uuid4()
    member = await layer.new_channel()
    await layer.group_add(conversation_group(conversation_id), member)
    try:
        publisher = ReplyPublisher(conversation_id=conversation_id, message_id=message_id)
        for text in ("こん", "にちは"):
            await publisher.publish(Delta(message_id=str(message_id), content=text))
        received = [await asyncio.wait_for(layer.receive(member), 5) for _ in range(2)]
    finally:
        await layer.flush()
    expected = [
        {"type": "message", "content": "こん", "seq": 1, "message_id": str(message_id)},
        {"type": "message", "content": "にちは", "seq": 2, "message_id": str(message_id)},
    ]
    assert received == [
        {"type": "reply.event", "event": e, "origin": fanout.PROCESS_ID} for e in expected
    ]
    assert [e.as_log() for e in await logged_events(message_id)] == expected


async def test_in_one_process_followers_get_the_events_and_the_channel_layer_carries_none(
    monkeypatch,
):
    layer = LocalChannelLayer()  # one process: the in-memory layer
    monkeypatch.setattr(publisher_module, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(fanout, "get_channel_layer", lambda: layer)
    conversation_id, message_id = uuid.uuid4(), uuid.uuid4()
    member = await layer.new_channel()  # what a follower in another process would be
    await layer.group_add(conversation_group(conversation_id), member)
    async with fanout.following(conversation_id) as inbox:
        publisher = ReplyPublisher(conversation_id=conversation_id, message_id=message_id)
        sent = [
            await publisher.publish(Delta(message_id=str(message_id), content=text))
            for text in ("こん", "にちは")
        ]
        got = [await asyncio.wait_for(inbox.get(), 1) for _ in sent]
    assert got == sent and [e.seq for e in got] == [1, 2]
    assert got[0] is sent[0]  # the event itself: no copy, no serialization
    await layer.send(member, {"type": "end"})
    assert (await layer.receive(member)) == {"type": "end"}  # nothing came before it


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
async def test_with_redis_a_follower_here_gets_each_event_once_and_other_processes_too(
    settings, monkeypatch
):
    """Local followers are served directly; the Redis broadcast is for other processes, and
    this process's relay does not hand its own events to them a second time."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    url = "redis://127.0.0.1:6379/13"
    settings.REDIS_URL = url
    layer = RedisPubSubChannelLayer(hosts=[url])
    monkeypatch.setattr(publisher_module, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(fanout, "get_channel_layer", lambda: layer)
    conversation_id, message_id = uuid.uuid4(), uuid.uuid4()
    group = conversation_group(conversation_id)
    elsewhere = await layer.new_channel()  # a follower in another process
    await layer.group_add(group, elsewhere)
    try:
        async with fanout.following(conversation_id) as inbox:
            publisher = ReplyPublisher(conversation_id=conversation_id, message_id=message_id)
            for text in ("こん", "にちは"):
                await publisher.publish(Delta(message_id=str(message_id), content=text))
            # An event another process published, after ours on the same Redis channel:
            # once it arrives, the relay has seen the copies of ours.
            other = Delta(message_id=str(uuid.uuid4()), seq=1, content="よそ")
            await layer.group_send(
                group, {"type": "reply.event", "event": other.as_log(), "origin": "other"}
            )
            got = [await asyncio.wait_for(inbox.get(), 5) for _ in range(3)]
            assert [e.content for e in got] == ["こん", "にちは", "よそ"]
            assert inbox.empty()  # no second copy of ours behind it
        remote = [await asyncio.wait_for(layer.receive(elsewhere), 5) for _ in range(3)]
        assert [m["event"]["content"] for m in remote] == ["こん", "にちは", "よそ"]
    finally:
        await layer.flush()


@pytest.mark.django_db(transaction=True)
async def test_events_of_a_finished_reply_arriving_late_are_not_replayed(user):
    """A late broadcast of an ended reply (the live `done` after the watchdog closed it from
    the database, deltas queued behind a catch-up) must not replay the reply to the socket."""
    conversation = await sync_to_async(ConversationFactory)(owner=user)
    communicator = in_process_socket(user, conversation.id)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "send", "content": "こんにちは"})
    events = []
    while not events or events[-1]["type"] != "done":
        events.append(await communicator.receive_json_from(timeout=5))
    done = events[-1]
    delta = next(e for e in events if e["type"] == "delta")

    logged = await logged_events(done["message_id"])
    late_delta = next(e for e in logged if e.seq == delta["seq"] + 1)
    for late in (late_delta, logged[-1]):
        fanout.deliver(conversation.id, late)
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_turn_sends_the_conversation_so_far_to_the_model(user, llm_upstream):
    """The WebSocket path reads the turn's context in the same database call that starts it."""
    llm_upstream.enqueue(reply("一つ目の答え"), reply("二つ目の答え"))
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="丁寧に")
    communicator = in_process_socket(user, conversation.id)
    assert (await communicator.connect())[0]
    for question in ("一つ目", "二つ目"):
        await communicator.send_json_to({"type": "send", "content": question})
        while (await communicator.receive_json_from(timeout=5))["type"] != "done":
            pass
    await communicator.disconnect()
    second = llm_upstream.chat_requests()[1].json["messages"]
    assert [(m["role"], m["content"]) for m in second] == [
        ("system", "丁寧に"),
        ("user", "一つ目"),
        ("assistant", "一つ目の答え"),
        ("user", "二つ目"),
    ]


def _recording_liveness(settings, monkeypatch, *, stale_after: float):
    """A liveness thread that records what it would write to Redis, one list per write."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/13"  # the thread runs only with Redis
    settings.STREAM_STALE_AFTER_SECONDS = stale_after
    writes: list[list[str]] = []
    monkeypatch.setattr(RedisStore, "set_flags", lambda self, keys, ttl: writes.append(keys))
    return Liveness(), writes


def _told(writes: list[list[str]]) -> list[str]:
    return [key for keys in list(writes) for key in keys]


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_replies_that_start_are_told_once_each_not_with_everything_running(settings, monkeypatch):
    # 100 turns starting one after another within a regular beat: each new reply is told
    # on its own (telling the whole running set at each start wrote ~N²/2 flags).
    liveness, writes = _recording_liveness(settings, monkeypatch, stale_after=60)
    ids = [uuid.uuid4() for _ in range(100)]
    try:
        for message_id in ids:
            liveness.add(message_id)
            time.sleep(0.001)
        _wait_for(lambda: len(set(_told(writes))) == len(ids))
        assert sorted(_told(writes)) == sorted(alive_key(m) for m in ids)
    finally:
        for message_id in ids:
            liveness.discard(message_id)


def test_the_regular_beat_renews_every_running_reply(settings, monkeypatch):
    liveness, writes = _recording_liveness(settings, monkeypatch, stale_after=0.4)  # beat 0.1 s
    ids = [uuid.uuid4() for _ in range(3)]
    try:
        for message_id in ids:
            liveness.add(message_id)
        _wait_for(lambda: all(_told(writes).count(alive_key(m)) >= 3 for m in ids), timeout=3)
        assert all(_told(writes).count(alive_key(m)) >= 3 for m in ids)
        liveness.discard(ids[0])
        # A beat may have read the set just before the discard; the two after it have not.
        seen = len(writes)
        _wait_for(lambda: len(writes) >= seen + 3, timeout=3)
        last_beat = writes[-1]
        assert alive_key(ids[0]) not in last_beat  # a finished reply is no longer told
        assert alive_key(ids[1]) in last_beat and alive_key(ids[2]) in last_beat
    finally:
        for message_id in ids:
            liveness.discard(message_id)
