"""Live state of replies being generated, readable from any process.

Every event of a reply (start, message deltas, tool calls, done/error) gets the next sequence
number, is appended to the reply's event log, and is then broadcast to the conversation's
channel-layer group. A reader that joins late subscribes to the group first and then reads
the log: it sends what the log holds and, from the group, only events with a higher sequence
number — so it sees no gap and no duplicate.

With REDIS_URL the log lives in Redis (shared by every process); without it, in this
process's memory (one process, in-memory channel layer). Django's cache API is not used
here: its async methods run in the single thread-sensitive executor, which would queue every
token behind ORM calls.
"""

import asyncio
import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger("kaiwa.turns")

# How long a finished reply's event log stays available for replay (Last-Event-ID, late
# joiners). After that, readers replay the stored message from the database instead.
EVENT_LOG_TTL_SECONDS = 3600


def conversation_group(conversation_id) -> str:
    """The channel-layer group that carries a conversation's events."""
    return f"conversation.{conversation_id}"


def control_group(message_id) -> str:
    """The group the runner of one reply listens on for `stop`."""
    return f"turn-control.{message_id}"


class _LocalLog:
    """In-process event logs: enough for one process with the in-memory channel layer."""

    def __init__(self) -> None:
        self._events: dict[str, list[str]] = {}
        self._expires: dict[str, float] = {}
        self._next_purge = 0.0

    async def append(self, key: str, payload: str) -> None:
        self._purge()
        self._events.setdefault(key, []).append(payload)
        self._expires[key] = time.monotonic() + EVENT_LOG_TTL_SECONDS

    async def read(self, key: str) -> list[str]:
        self._purge()
        return list(self._events.get(key, ()))

    async def expire(self, key: str, seconds: int) -> None:
        if key in self._events:
            self._expires[key] = time.monotonic() + seconds

    async def set_flag(self, key: str) -> None:
        self._purge()
        self._events[key] = ["1"]
        self._expires[key] = time.monotonic() + EVENT_LOG_TTL_SECONDS

    async def get_flag(self, key: str) -> bool:
        self._purge()
        return key in self._events

    def _purge(self) -> None:
        # At most once a second: scanning every log on every event would grow with traffic.
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for key in [k for k, t in self._expires.items() if t < now]:
            self._events.pop(key, None)
            self._expires.pop(key, None)


class _RedisLog:
    """Event logs in Redis lists; one client per event loop (redis-py pools are loop-bound)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._sync_client = None  # redis-py's blocking client is thread-safe (a pool)

    def _client(self):
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.Redis.from_url(self._url)
            self._clients[loop] = client
        return client

    async def append(self, key: str, payload: str) -> None:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.rpush(key, payload)
            pipe.expire(key, EVENT_LOG_TTL_SECONDS)
            await pipe.execute()

    async def append_and_publish(
        self, key: str, payload: str, *, channel: str, message: bytes
    ) -> None:
        """`append`, then PUBLISH `message` on `channel`: one round trip, in this order."""
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.rpush(key, payload)
            pipe.expire(key, EVENT_LOG_TTL_SECONDS)
            pipe.publish(channel, message)
            await pipe.execute()

    async def read(self, key: str) -> list[str]:
        return [raw.decode() for raw in await self._client().lrange(key, 0, -1)]

    async def expire(self, key: str, seconds: int) -> None:
        await self._client().expire(key, seconds)

    async def set_flag(self, key: str) -> None:
        await self._client().set(key, "1", ex=EVENT_LOG_TTL_SECONDS)

    async def get_flag(self, key: str) -> bool:
        return bool(await self._client().exists(key))

    # Blocking calls, for threads (recovery in database threads, the liveness thread).

    def _blocking_client(self):
        if self._sync_client is None:
            import redis

            self._sync_client = redis.Redis.from_url(
                self._url, socket_timeout=2, socket_connect_timeout=2
            )
        return self._sync_client

    def flags_set(self, keys: list[str]) -> list[bool]:
        pipe = self._blocking_client().pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(found) for found in pipe.execute()]

    def set_flags(self, keys: list[str], ttl: float) -> None:
        pipe = self._blocking_client().pipeline(transaction=False)
        for key in keys:
            pipe.set(key, "1", px=int(ttl * 1000))
        pipe.execute()


_log: _LocalLog | _RedisLog | None = None


def _event_log() -> _LocalLog | _RedisLog:
    global _log
    if _log is None:
        _log = _RedisLog(settings.REDIS_URL) if settings.REDIS_URL else _LocalLog()
    return _log


def _key(message_id) -> str:
    return f"kaiwa:reply:{message_id}:events"


def _redis_group_channel(layer, group: str) -> str | None:
    """The Redis channel on which channels-redis's pub/sub layer broadcasts `group`, when
    that layer carries this process's groups on the one Redis server of the event logs
    (REDIS_URL, as config/settings.py sets it up); None otherwise.

    Publishing a group message there ourselves, in the layer's own serialization, lets one
    pipeline append an event to its reply's log and broadcast it: one round trip instead of
    two, and no wait for the layer's single lock per process, which every other reply's
    broadcast holds for its own round trip. Subscribers of the group, in any process,
    receive it through the layer as any group message. This reads two private names of
    channels-redis (pinned in requirements); tests/assistant/test_live.py checks them.
    """
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    loop_layer = layer._get_layer()
    shards = loop_layer._shards
    if len(shards) != 1 or shards[0].host.get("address") != settings.REDIS_URL:
        return None
    return loop_layer._get_group_channel_name(group)


class ReplyPublisher:
    """Numbers, logs and broadcasts the events of one reply. Used only by its runner, on its
    event loop."""

    def __init__(self, *, conversation_id, message_id) -> None:
        self.conversation_id = str(conversation_id)
        self.message_id = str(message_id)
        self.seq = 0
        self._layer = get_channel_layer()
        self._group = conversation_group(self.conversation_id)
        self._log = _event_log()
        self._redis_channel = (
            _redis_group_channel(self._layer, self._group)
            if isinstance(self._log, _RedisLog)
            else None
        )
        # Keeps log order and broadcast order equal to sequence order.
        self._lock = asyncio.Lock()

    async def publish(self, event: dict[str, Any]) -> int:
        """Give `event` the next sequence number, log it, broadcast it; returns the number.

        The log first, then the broadcast: a reader subscribes, then reads the log, so an
        event it does not find in the log reaches it through the group."""
        async with self._lock:
            self.seq += 1
            event = {**event, "seq": self.seq, "message_id": self.message_id}
            entry = json.dumps(event, ensure_ascii=False)
            message = {"type": "reply.event", "event": event}
            if self._redis_channel is not None:
                await self._log.append_and_publish(
                    _key(self.message_id),
                    entry,
                    channel=self._redis_channel,
                    message=self._layer.serialize(message),
                )
            else:
                await self._log.append(_key(self.message_id), entry)
                await self._layer.group_send(self._group, message)
            return self.seq


async def reply_events(message_id) -> list[dict[str, Any]]:
    """Everything published so far for this reply, in order (empty when unknown/expired)."""
    return [json.loads(raw) for raw in await _event_log().read(_key(message_id))]


def snapshot_of(events: Iterable[dict[str, Any]]) -> tuple[str, int]:
    """The text so far and the sequence number of the last event it includes."""
    text = []
    seq = 0
    for event in events:
        seq = event["seq"]
        if event["type"] == "message":
            text.append(event["content"])
    return "".join(text), seq


def _stop_key(message_id) -> str:
    return f"kaiwa:reply:{message_id}:stop"


async def request_stop(message_id) -> None:
    """Ask the runner of this reply, in whatever process it runs, to stop.

    The flag covers a stop that arrives before the runner has subscribed to its control
    group; the broadcast reaches a runner that is already streaming.
    """
    await _event_log().set_flag(_stop_key(message_id))
    await get_channel_layer().group_send(control_group(message_id), {"type": "turn.stop"})


async def stop_requested(message_id) -> bool:
    return await _event_log().get_flag(_stop_key(message_id))


def _alive_key(message_id) -> str:
    return f"kaiwa:reply:{message_id}:alive"


class _Liveness:
    """The replies this process is running, told to every process through Redis.

    A thread of its own, not the event loop and not the database, says so a few times per
    STREAM_STALE_AFTER_SECONDS: an overloaded process can queue its database writes (the
    replies' heartbeats) and even its event loop for longer than that, and is slow, not
    dead. Without Redis there is one process, and its own set is the whole answer.

    A reply that starts is told at once, on its own; the whole set only on the regular
    beat. (Telling the whole set at every start made 200 turns starting within a second
    write some 9,000 flags instead of a few hundred.)
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._untold: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, message_id) -> None:
        with self._lock:
            self._ids.add(str(message_id))
            self._untold.add(str(message_id))
            if settings.REDIS_URL and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._beat, name="kaiwa-liveness", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def discard(self, message_id) -> None:
        with self._lock:
            self._ids.discard(str(message_id))
            self._untold.discard(str(message_id))

    def here(self) -> set[str]:
        with self._lock:
            return set(self._ids)

    def _beat(self) -> None:
        last_beat = -math.inf
        while True:
            ttl = settings.STREAM_STALE_AFTER_SECONDS
            self._wake.wait(max(0.0, last_beat + ttl / 4 - time.monotonic()))
            self._wake.clear()
            with self._lock:
                if time.monotonic() >= last_beat + ttl / 4:
                    ids = set(self._ids)
                    last_beat = time.monotonic()
                else:
                    ids = set(self._untold)
                self._untold.clear()
            store = _event_log()
            if ids and isinstance(store, _RedisLog):
                try:
                    store.set_flags([_alive_key(i) for i in ids], ttl)
                except Exception:  # Redis away: readers fall back on the database heartbeat
                    logger.warning("liveness_not_published", exc_info=True)


running = _Liveness()


def alive_among(message_ids: list) -> set:
    """Those of `message_ids` whose runner is alive, here or in another process."""
    here = running.here()
    alive = {m for m in message_ids if str(m) in here}
    elsewhere = [m for m in message_ids if m not in alive]
    store = _event_log()
    if elsewhere and isinstance(store, _RedisLog):
        found = store.flags_set([_alive_key(m) for m in elsewhere])
        alive.update(m for m, yes in zip(elsewhere, found, strict=True) if yes)
    return alive


def reset_for_tests() -> None:
    """Forget the process-local log and Redis clients (settings changed)."""
    global _log
    _log = None


TERMINAL_EVENTS = frozenset({"done", "error"})


class ReplyFollower:
    """Turns a reply's log plus its broadcast into one ordered stream with no gap or duplicate.

    Feed it every broadcast event of the reply (in arrival order); it returns the events
    to pass on. If the channel layer dropped some (a slow reader over capacity), the gap is
    filled from the log.
    """

    def __init__(self, message_id, *, after_seq: int = 0) -> None:
        self.message_id = str(message_id)
        self.last_seq = after_seq
        self.finished = False

    async def catch_up(self) -> list[dict[str, Any]]:
        """Everything in the log after `last_seq`."""
        return self.take(await reply_events(self.message_id))

    async def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if self.finished:
            return []  # the reply has ended for this reader: late events change nothing
        if event.get("message_id") != self.message_id or event["seq"] <= self.last_seq:
            return []
        if event["seq"] == self.last_seq + 1:
            return self.take([event])
        return await self.catch_up()

    def take(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for event in events:
            if event["seq"] <= self.last_seq or self.finished:
                continue
            out.append(event)
            self.last_seq = event["seq"]
            if event["type"] in TERMINAL_EVENTS:
                self.finished = True
        return out
