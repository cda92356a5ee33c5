"""A reply's lifecycle, and the one place its status changes.

    pending ──(first partial write)──▶ streaming ──▶ complete | failed | cancelled
        └──────────────┴──(its runner's process died)──▶ interrupted

`turn_start` (assistant/turns.py) creates the reply `pending`. Its runner then calls
`save_partial` (about once a second: the text so far and a heartbeat) and `finish` (once,
with the turn's settlement in the usage ledger, in the same transaction). A reply whose
runner died is found by `recover_stale_replies`, which every reader of replies' state calls
(the message list, the streams, the WebSocket, a stop, a new turn, start-up): it marks such
replies `interrupted`, keeping their partial text, and settles them in the ledger.

A pending or streaming reply is stale when its heartbeat (or, before the first one, its
creation) is older than STREAM_STALE_AFTER_SECONDS and no live process runs it
(assistant.live.liveness). The second check matters under overload: database writes can
queue for longer than the threshold while the runner is alive.
"""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from assistant.attachment_context import expand_history
from assistant.context import build_context, estimate_messages_tokens, estimate_tokens
from assistant.live.liveness import dead_among
from config import plain_sql
from conversations.models import Conversation, Message
from conversations.tree import path_before
from usage.models import UsageKind
from usage.services import usage_record, usage_release

logger = logging.getLogger("kaiwa.turns")

UNFINISHED = (Message.Status.PENDING, Message.Status.STREAMING)


def _storable(text: str) -> str:
    """A model's text without NUL characters, which PostgreSQL's text cannot hold (what
    people send is refused instead: conversations.validation)."""
    return text.replace("\x00", "")


def save_partial(*, reply_id, content: str) -> None:
    """The runner's partial text and heartbeat; the reply is `streaming` from the first one."""
    Message.objects.filter(pk=reply_id, status__in=UNFINISHED).update(
        content=_storable(content),
        status=Message.Status.STREAMING,
        heartbeat_at=timezone.now(),
        updated_at=timezone.now(),
    )


def save_partials(partials: list[tuple[Any, str]]) -> None:
    """`save_partial` for many replies at once: (reply id, text so far) pairs, one statement
    run for each pair (config.plain_sql.update_many, executemany) in one transaction.

    The partial writes of every reply running in a process go through here together, once
    per STREAM_PERSIST_INTERVAL_SECONDS (assistant.turn_runner.persister): one thread trip
    and one transaction (on SQLite, one hold of the write lock) per interval, however many
    replies run, instead of one of each per reply, which at a few hundred replies queued
    their turn starts behind them. Plain SQL: the ORM would build the same UPDATE once per
    reply.
    """
    if not partials:
        return
    now = timezone.now()
    rows = [
        (pk, (_storable(content), Message.Status.STREAMING, now, now)) for pk, content in partials
    ]
    with transaction.atomic():
        plain_sql.update_many(
            Message,
            ("content", "status", "heartbeat_at", "updated_at"),
            rows,
            status=UNFINISHED,
        )


def finish(
    *,
    reply_id,
    conversation_id,
    status: str,
    stored_fields: dict[str, Any],
    settle,
) -> Message:
    """End the reply with `status` (complete, failed or cancelled) and free its conversation.

    `settle()` writes the turn's spending to the usage ledger; it runs in the same
    transaction, so a reply is never finished with its spending unrecorded, or the reverse.
    A reply recovery already marked `interrupted` (and settled) is left as it is; the
    returned reply then says so.
    """
    stored_fields = {
        name: _storable(value) if name in ("content", "error_text") else value
        for name, value in stored_fields.items()
    }
    # Plain SQL (config.plain_sql): every turn ends here, and the ORM's statements cost
    # several times what the database takes to run them.
    now = timezone.now()
    with transaction.atomic():
        ended = plain_sql.update(
            Message,
            reply_id,
            {**stored_fields, "status": status, "heartbeat_at": None, "updated_at": now},
            status=UNFINISHED,
        )
        if ended:
            settle()
            usage_release(message_id=reply_id)  # the reservation goes, what was spent stays
        plain_sql.update(
            Conversation,
            conversation_id,
            {"active_turn": None, "updated_at": now},
            active_turn=reply_id,
        )
    return plain_sql.get(Message, reply_id)


def recover_stale_replies(*, conversation_id=None, message_id=None) -> int:
    """Mark stale unfinished replies `interrupted` and free their conversations; returns how
    many. Every reader of a reply's state calls this first."""
    unfinished = Message.objects.filter(status__in=UNFINISHED)
    if conversation_id is not None:
        unfinished = unfinished.filter(conversation_id=conversation_id)
    if message_id is not None:
        unfinished = unfinished.filter(pk=message_id)
    # Look first, and take a write transaction (on SQLite, the database's write lock) only
    # when there is something to recover.
    ids = dead_among(unfinished)
    if not ids:
        return 0
    with transaction.atomic():
        return _mark_interrupted(ids)


def finished_reply(reply_id) -> Message | None:
    """The reply if it has ended (after recovering it, if its runner died); else None."""
    recover_stale_replies(message_id=reply_id)
    reply = Message.objects.filter(pk=reply_id).first()
    if reply is None or reply.status not in Message.FINISHED:
        return None
    return reply


def active_reply_id(conversation_id):
    """The conversation's running reply (after recovering a dead one), or None."""
    recover_stale_replies(conversation_id=conversation_id)
    return (
        Conversation.objects.filter(pk=conversation_id)
        .values_list("active_turn", flat=True)
        .first()
    )


def _mark_interrupted(ids: list) -> int:
    replies = Message.objects.select_related("conversation", "conversation__owner").filter(
        pk__in=ids, status__in=UNFINISHED
    )
    for reply in replies:
        marked = Message.objects.filter(pk=reply.pk, status__in=UNFINISHED).update(
            status=Message.Status.INTERRUPTED,
            error_code="interrupted",
            error_text="The server stopped while this reply was being generated.",
            heartbeat_at=None,
            updated_at=timezone.now(),
        )
        if marked:  # not meanwhile finished or recovered by another process
            _settle_interrupted(reply)
    Conversation.objects.filter(active_turn_id__in=ids).update(active_turn=None)
    return len(ids)


def _settle_interrupted(reply: Message) -> None:
    """Release the dead turn's reservation and charge its last model call, estimated.

    The runner died with the provider's figures of that call, if any, so the call is
    charged the local estimate of its context and of the partial reply it left. Earlier
    tool rounds of the turn were charged when they were stored.
    """
    usage_release(message_id=reply.pk)
    conversation = reply.conversation
    history = path_before(reply)
    # Attachments count as the model saw them (images by size, not read back from storage).
    expand_history(history, model=reply.model or conversation.model, read_images=False)
    context = build_context(system_prompt=conversation.system_prompt, history=history)
    usage_record(
        user=conversation.owner,
        kind=UsageKind.CHAT,
        model=reply.model or conversation.model or _default_model(),
        prompt_tokens=estimate_messages_tokens(context),
        completion_tokens=estimate_tokens(reply.content),
        estimated=True,
    )


def _default_model() -> str:
    from assistant.backends import get_backend

    try:
        return get_backend().info.default_model
    except Exception:  # no usable backend configured: the call is recorded without a model
        return ""
