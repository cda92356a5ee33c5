"""A finished reply's events rebuilt from the database, for readers that come after its live
log (expired, or never written: its runner died)."""

from assistant.reply_events import Delta, Done, Failed, ReplyEvent, Start
from conversations.markdown import render_markdown
from conversations.models import Message


def stored_reply_events(reply: Message) -> list[ReplyEvent]:
    """start, the whole text as one message, and the end; numbered from 1."""
    message_id = str(reply.pk)
    events: list[ReplyEvent] = [
        Start(
            message_id=message_id,
            conversation_id=str(reply.conversation_id),
            user_message_id=str(reply.reply_to_id) if reply.reply_to_id else None,
            parent_id=str(reply.parent_id) if reply.parent_id else None,
        )
    ]
    if reply.content:
        events.append(Delta(message_id=message_id, content=reply.content))
    events.append(terminal_event(reply))
    return [event.numbered(seq) for seq, event in enumerate(events, start=1)]


def terminal_event(reply: Message, *, seq: int = 0) -> ReplyEvent:
    """The `done` or `error` event that ends a finished reply."""
    if reply.status in (Message.Status.FAILED, Message.Status.INTERRUPTED):
        return Failed(
            message_id=str(reply.pk), seq=seq, code=reply.error_code, error=reply.error_text
        )
    return Done(
        message_id=str(reply.pk),
        seq=seq,
        status=reply.status,
        content=reply.content,
        html=render_markdown(reply.content),
        finish_reason=reply.finish_reason,
        usage=reply.usage,
        context_start_id=str(reply.context_start_id) if reply.context_start_id else None,
        context_summarized=reply.context_summarized,
    )
