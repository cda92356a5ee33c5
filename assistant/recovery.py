"""Replies whose process died mid-turn become `interrupted`, keeping their partial text.

A running turn refreshes its reply's heartbeat in the database about once a second, and
its process says the reply is running through Redis (live.running). A pending or streaming
reply whose heartbeat (or, before the first one, creation) is older than
STREAM_STALE_AFTER_SECONDS, and that no live process runs, has no live runner. The second
check matters under overload: database writes can queue for longer than the threshold while
the runner is alive. This runs at start-up and whenever a reader looks at a conversation or
a reply.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from assistant import live
from assistant.context import build_context, estimate_messages_tokens, estimate_tokens
from conversations.models import Conversation, Message
from usage.models import UsageKind
from usage.services import usage_record, usage_release

logger = logging.getLogger("kaiwa.turns")

_UNFINISHED = [Message.Status.PENDING, Message.Status.STREAMING]


def _stale_filter() -> Q:
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_STALE_AFTER_SECONDS)
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def recover_stale_replies(*, conversation_id=None, message_id=None) -> int:
    """Mark stale unfinished replies `interrupted` and free their conversations."""
    stale = Message.objects.filter(status__in=_UNFINISHED).filter(_stale_filter())
    if conversation_id is not None:
        stale = stale.filter(conversation_id=conversation_id)
    if message_id is not None:
        stale = stale.filter(pk=message_id)
    # Readers call this often: look first, and take a write transaction (on SQLite, the
    # database's write lock) only when there is something to recover.
    ids = list(stale.values_list("pk", flat=True))
    if ids:
        try:
            alive = live.alive_among(ids)
        except Exception:  # the live store is away: judge by the database heartbeat alone
            logger.warning("recovery_liveness_unknown", exc_info=True)
            alive = set()
        ids = [pk for pk in ids if pk not in alive]
    if not ids:
        return 0
    with transaction.atomic():
        return _mark_interrupted(ids)


def _mark_interrupted(ids: list) -> int:
    replies = Message.objects.select_related("conversation", "conversation__owner").filter(
        pk__in=ids, status__in=_UNFINISHED
    )
    for reply in replies:
        marked = Message.objects.filter(pk=reply.pk, status__in=_UNFINISHED).update(
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
    history = conversation.messages.exclude(pk=reply.pk).order_by("created_at", "id")
    context = build_context(system_prompt=conversation.system_prompt, history=list(history))
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
