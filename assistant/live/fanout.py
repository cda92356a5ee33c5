"""Delivering reply events to the followers in this process, without the channel layer.

A follower (a WebSocket, an SSE stream, a blocking request) opens an `Inbox` for its
conversation with `following`. The publisher hands each event to the inboxes of this
process directly: the same frozen event object, no copy, no serialization. The channel
layer carries events only between processes: with a layer other processes share (Redis),
the first inbox of a conversation in this process starts one relay that receives the
conversation's group and passes on the events published elsewhere, dropping those this
process published (its inboxes have them already). With the in-memory layer there are no
other processes, and no relay.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from assistant.live.groups import conversation_group
from assistant.reply_events import ReplyEvent, UnknownEvent, from_log

logger = logging.getLogger("kaiwa.turns")

# Names this process in its broadcasts, so its relays can skip what it published itself.
PROCESS_ID = uuid.uuid4().hex
BROADCAST_TYPE = "reply.event"
# Events an inbox holds for a reader that does not keep up; past that it misses some, and
# its follower fills the gap from the event log (as with the channel layer's capacity).
INBOX_CAPACITY = 1000


def shared_layer(layer) -> bool:
    """Whether `layer` reaches other processes (the in-memory layer does not)."""
    return not isinstance(layer, InMemoryChannelLayer)


def broadcast_message(event: ReplyEvent) -> dict[str, Any]:
    return {"type": BROADCAST_TYPE, "event": event.as_log(), "origin": PROCESS_ID}


def broadcast_event(message: dict[str, Any]) -> ReplyEvent | None:
    """The reply event of a broadcast from another process; None for anything else."""
    if message.get("type") != BROADCAST_TYPE or message.get("origin") == PROCESS_ID:
        return None
    try:
        return from_log(message["event"])
    except UnknownEvent:
        logger.warning("reply_event_unknown", extra={"event_type": message["event"].get("type")})
        return None


class Inbox:
    """One follower's queue of reply events (and of the other messages its owner relays
    into it, such as credentials changes), on the event loop that opened it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[ReplyEvent | dict[str, Any]] = asyncio.Queue()

    def put(self, item: ReplyEvent | dict[str, Any]) -> None:
        if isinstance(item, ReplyEvent) and self._queue.qsize() >= INBOX_CAPACITY:
            return  # the follower notices the gap in sequence numbers and reads the log
        self._queue.put_nowait(item)

    async def get(self) -> ReplyEvent | dict[str, Any]:
        return await self._queue.get()

    def empty(self) -> bool:
        return self._queue.empty()


@dataclass(slots=True)
class _Relay:
    ready: asyncio.Future  # done once its channel is in the group (or its set-up failed)
    task: asyncio.Task | None = None


class _Followers:
    def __init__(self) -> None:
        self.inboxes: dict[str, set[Inbox]] = {}
        # Per conversation and event loop: a server runs one loop, tests run several.
        self.relays: dict[tuple[str, asyncio.AbstractEventLoop], _Relay] = {}


_followers = _Followers()


def deliver(conversation_id, event: ReplyEvent) -> None:
    """Hand `event` to every inbox of its conversation in this process."""
    inboxes = _followers.inboxes.get(str(conversation_id))
    if not inboxes:
        return
    loop = asyncio.get_running_loop()
    for inbox in list(inboxes):
        if inbox.loop is loop:
            inbox.put(event)
        else:
            with suppress(RuntimeError):  # that loop has closed; so has its follower
                inbox.loop.call_soon_threadsafe(inbox.put, event)


@asynccontextmanager
async def following(conversation_id) -> AsyncIterator[Inbox]:
    """An inbox for the conversation's reply events until the block ends.

    Once this returns, every event published afterwards, in any process, reaches the inbox:
    a follower opens it first, then reads the event log, and misses nothing in between.
    """
    key = str(conversation_id)
    inbox = Inbox()
    _followers.inboxes.setdefault(key, set()).add(inbox)
    try:
        layer = get_channel_layer()
        if shared_layer(layer):
            await _ensure_relay(key, layer)
        yield inbox
    finally:
        inboxes = _followers.inboxes.get(key)
        if inboxes is not None:
            inboxes.discard(inbox)
            if not inboxes:
                del _followers.inboxes[key]
        _stop_relay_if_unused(key)


async def _ensure_relay(key: str, layer) -> None:
    relay_key = (key, asyncio.get_running_loop())
    relay = _followers.relays.get(relay_key)
    if relay is None:
        relay = _followers.relays[relay_key] = _Relay(ready=relay_key[1].create_future())
        relay.task = asyncio.create_task(_relay(key, layer, relay))
    try:
        await asyncio.shield(relay.ready)
    except Exception:
        _followers.relays.pop(relay_key, None)  # the next follower tries again
        raise


def _stop_relay_if_unused(key: str) -> None:
    loop = asyncio.get_running_loop()
    if any(inbox.loop is loop for inbox in _followers.inboxes.get(key, ())):
        return
    relay = _followers.relays.pop((key, loop), None)
    if relay is not None and relay.task is not None:
        relay.task.cancel()


async def _relay(key: str, layer, relay: _Relay) -> None:
    """Pass this conversation's events published by other processes to this loop's inboxes."""
    group = conversation_group(key)
    try:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
    except Exception as exc:
        relay.ready.set_exception(exc)
        return
    relay.ready.set_result(None)
    loop = asyncio.get_running_loop()
    try:
        while True:
            event = broadcast_event(await layer.receive(channel))
            if event is None:
                continue
            for inbox in list(_followers.inboxes.get(key, ())):
                if inbox.loop is loop:
                    inbox.put(event)
    finally:
        with suppress(Exception):
            await layer.group_discard(group, channel)
