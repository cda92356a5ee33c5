"""What a turn needs from the database before it calls the model."""

from dataclasses import dataclass
from typing import Any

from assistant.attachment_context import expand_history
from assistant.context import build_context
from assistant.turns import Turn
from conversations.models import Conversation, Message
from conversations.tree import FIRST_POSITION, path_before


@dataclass(frozen=True, slots=True)
class TurnOverrides:
    """Per-call parameters (POST /api/chat/) that do not change the conversation."""

    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    model: str | None = None  # one of LLM_MODELS, checked by the caller


@dataclass(slots=True)
class LoadedTurn:
    reply: Message
    conversation: Conversation
    user: Any
    context: list[dict[str, Any]]


def load_started_turn(
    turn: Turn, *, user, overrides: TurnOverrides | None = None
) -> LoadedTurn | None:
    """The runner's context for a turn just started, read by whoever started it, right after
    `turn_start` and on the same thread (WebSocket: its database call; HTTP: the request).
    The runner then goes straight to the model instead of waiting for a database thread
    first. None for an earlier turn returned for a repeated client_id: nothing to run.

    Also gives the turn's user message its `tree_position` (conversations.tree), from the
    same read, so that serialising it asks the database nothing more."""
    if not turn.created:
        return None
    if turn.first_exchange:
        # The conversation's first message: the whole history, alone at its place.
        history = [turn.user_message]
        turn.user_message.tree_position = FIRST_POSITION
    else:
        history = path_before(turn.reply)
        if history and history[-1].pk == turn.user_message.pk:
            turn.user_message.tree_position = history[-1].tree_position
    return _loaded(
        reply=turn.reply,
        conversation=turn.conversation,
        user=user,
        overrides=overrides,
        history=history,
    )


def load_pending_turn(reply_id, overrides: TurnOverrides | None) -> LoadedTurn | None:
    """The context of a turn known only by its reply's id; None unless it is pending."""
    reply = (
        Message.objects.select_related("conversation", "conversation__owner")
        .filter(pk=reply_id, status=Message.Status.PENDING)
        .first()
    )
    if reply is None:
        return None
    conversation = reply.conversation
    return _loaded(
        reply=reply,
        conversation=conversation,
        user=conversation.owner,
        overrides=overrides,
        # The model sees the active path only: the branch that ends at the reply's user
        # message (an edit's or a regeneration's older versions are on other branches).
        history=path_before(reply),
    )


def _loaded(
    *,
    reply: Message,
    conversation: Conversation,
    user,
    overrides: TurnOverrides | None,
    history: list[Message],
) -> LoadedTurn:
    system_prompt = conversation.system_prompt
    if overrides is not None and overrides.system_prompt is not None:
        system_prompt = overrides.system_prompt
    # Attachments become the content of the messages that carry them (one query, only when
    # the path has any).
    expand_history(history, model=(overrides and overrides.model) or reply.model)
    context = build_context(system_prompt=system_prompt, history=history)
    return LoadedTurn(reply, conversation, user, context)
