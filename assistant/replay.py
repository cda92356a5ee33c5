"""Replaying a finished reply from the database, for readers that come after its live log."""

from typing import Any

from asgiref.sync import sync_to_async

from assistant.live import ReplyFollower, reply_events
from assistant.recovery import recover_stale_replies
from conversations.markdown import render_markdown
from conversations.models import Message


def stored_reply_events(reply: Message) -> list[dict[str, Any]]:
    """The events of a finished reply, rebuilt from what is stored (start, text, end)."""
    base = {"message_id": str(reply.pk)}
    events: list[dict[str, Any]] = [
        {
            **base,
            "type": "start",
            "conversation_id": str(reply.conversation_id),
            "user_message_id": str(reply.reply_to_id) if reply.reply_to_id else None,
        }
    ]
    if reply.content:
        events.append({**base, "type": "message", "content": reply.content})
    events.append(terminal_event(reply, seq=0))
    return [{**event, "seq": seq} for seq, event in enumerate(events, start=1)]


def terminal_event(reply: Message, *, seq: int) -> dict[str, Any]:
    """The `done` or `error` event that ends a finished reply."""
    base = {"message_id": str(reply.pk), "seq": seq}
    if reply.status in (Message.Status.FAILED, Message.Status.INTERRUPTED):
        return {**base, "type": "error", "code": reply.error_code, "error": reply.error_text}
    return {
        **base,
        "type": "done",
        "status": reply.status,
        "content": reply.content,
        "html": render_markdown(reply.content),
        "finish_reason": reply.finish_reason,
        "usage": reply.usage,
    }


async def closing_events(follower: ReplyFollower, reply: Message) -> list[dict[str, Any]]:
    """What a follower still needs of a reply that has ended, live log or not.

    A reply whose runner died has no `done`/`error` in its log: one is made from the
    stored (interrupted) message.
    """
    if follower.last_seq == 0 and not await reply_events(reply.pk):
        return follower.take(stored_reply_events(reply))
    events = await follower.catch_up()
    if not follower.finished:
        events += follower.take([terminal_event(reply, seq=follower.last_seq + 1)])
    return events


@sync_to_async
def reply_if_finished(reply_id) -> Message | None:
    """The reply if it has ended (marking it interrupted first if its runner died)."""
    recover_stale_replies(message_id=reply_id)
    reply = Message.objects.filter(pk=reply_id).first()
    if reply is None or reply.status not in Message.FINISHED:
        return None
    return reply
