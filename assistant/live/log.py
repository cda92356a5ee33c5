"""Reading a reply's event log (written by live.publisher)."""

from assistant.live.store import events_key, live_store
from assistant.reply_events import Delta, ReplyEvent


async def logged_events(message_id) -> list[ReplyEvent]:
    """Everything published so far for this reply, in order (empty when unknown/expired)."""
    return await live_store().read(events_key(message_id))


def snapshot_of(events: list[ReplyEvent]) -> tuple[str, int]:
    """The text of `events` and the sequence number of the last of them."""
    text = []
    seq = 0
    for event in events:
        seq = event.seq
        if isinstance(event, Delta):
            text.append(event.content)
    return "".join(text), seq
