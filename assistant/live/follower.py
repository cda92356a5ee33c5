"""Following a reply: what exists of it, then its live events to the end — no gap, no
duplicate, and an end made from the database when its runner died.

`ReplyFollower` holds one reader's position in one reply; the WebSocket consumer keeps one
per reply of its conversation and feeds them from its inbox (live.fanout). `follow` drives
one for a reader of a single reply: the SSE streams, and a blocking POST waiting for a
reply that runs in another process.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from assistant.db_threads import in_db_thread
from assistant.live.fanout import Inbox
from assistant.live.log import logged_events, snapshot_of
from assistant.replay import stored_reply_events, terminal_event
from assistant.reply_events import ReplyEvent
from assistant.reply_lifecycle import finished_reply


class ReplyFollower:
    """One reader's position in one reply: the sequence number it has, and whether it ended.

    Feed it every broadcast event (in arrival order); it returns those to pass on. If the
    channel layer dropped some (a slow reader over capacity), the gap is filled from the log.
    """

    def __init__(self, message_id, *, after_seq: int = 0) -> None:
        self.message_id = str(message_id)
        self.last_seq = after_seq
        self.finished = False

    async def snapshot(self) -> tuple[str, int, list[ReplyEvent]]:
        """For a reader joining a running reply: its text so far and the sequence number it
        covers (the reader is now there), and the end if it has just ended."""
        events = await logged_events(self.message_id)
        running = [e for e in events if not e.terminal]
        text, self.last_seq = snapshot_of(running)
        return text, self.last_seq, self.take([e for e in events if e.terminal])

    async def backlog(self) -> list[ReplyEvent]:
        """Everything after this reader's position that exists now: the live log, or the
        stored reply when it has ended."""
        events = await self.catch_up()
        if not events and not self.finished:
            events = await self.if_ended()
        return events

    async def catch_up(self) -> list[ReplyEvent]:
        """Everything in the live log after this reader's position."""
        return self.take(await logged_events(self.message_id))

    async def feed(self, event: ReplyEvent) -> list[ReplyEvent]:
        if self.finished:
            return []  # the reply has ended for this reader: late events change nothing
        if event.message_id != self.message_id or event.seq <= self.last_seq:
            return []
        if event.seq == self.last_seq + 1:
            return self.take([event])
        return await self.catch_up()

    async def if_ended(self) -> list[ReplyEvent]:
        """The rest of the reply if it has ended, live log or not; [] while it runs.

        A reply whose runner died sends nothing more and has no end in its log: this is how
        a reader notices (the stored reply is then `interrupted`) and ends it.
        """
        reply = await _finished_reply(self.message_id)
        if reply is None:
            return []
        if self.last_seq == 0 and not await logged_events(self.message_id):
            return self.take(stored_reply_events(reply))
        events = await self.catch_up()
        if not self.finished:
            events += self.take([terminal_event(reply, seq=self.last_seq + 1)])
        return events

    def take(self, events: list[ReplyEvent]) -> list[ReplyEvent]:
        out = []
        for event in events:
            if event.seq <= self.last_seq or self.finished:
                continue
            out.append(event)
            self.last_seq = event.seq
            if event.terminal:
                self.finished = True
        return out


_finished_reply = in_db_thread(finished_reply)


class Idle:
    """`follow` waited `idle_seconds` and nothing came (the reply was checked for a dead
    runner meanwhile)."""


IDLE = Idle()


async def follow(
    follower: ReplyFollower, inbox: Inbox, *, idle_seconds: float
) -> AsyncIterator[ReplyEvent | Idle | dict[str, Any]]:
    """The reply's events from `follower`'s position to its end, received in `inbox`
    (opened before this is called, so nothing published after that is missed).

    Yields each event, IDLE after `idle_seconds` without one (once the reply has been
    checked for a dead runner), and any other message the inbox holds (for the caller:
    credentials changes).
    """
    for event in await follower.backlog():
        yield event
    while not follower.finished:
        try:
            item = await asyncio.wait_for(inbox.get(), timeout=idle_seconds)
        except TimeoutError:
            for event in await follower.if_ended():
                yield event
            if not follower.finished:
                yield IDLE
            continue
        if not isinstance(item, ReplyEvent):
            yield item
            continue
        for out in await follower.feed(item):
            yield out
