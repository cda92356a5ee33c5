"""What a turn needs from the database before it calls the model."""

from dataclasses import dataclass, field
from typing import Any

from assistant.attachment_context import expand_history
from assistant.context import build_context
from assistant.history_summary import HistoryView, plan_history
from assistant.turns import Turn
from conversations.attachments.services import links_of
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
    # The conversation's first exchange (its title may be written after it), and the
    # user's message of the turn as text.
    first_exchange: bool = False
    question: str = ""
    # Where the model's view of the history begins, and the summary of what came before.
    history_view: HistoryView = field(default_factory=HistoryView)


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
    first_exchange = len(history) == 1 and history[0].parent_id is None
    # Attachments become the content of the messages that carry them (one query, only when
    # the path has any), before anything measures the history: first with empty image
    # parts (an image part's estimate does not depend on its data), then, for the messages
    # that are kept, with the images read: an exchange left out costs no file read.
    model = (overrides and overrides.model) or reply.model
    expand_history(history, model=model, read_images=False)
    question = _as_text(history[-1]) if history else ""
    # What no longer fits is left out here, and summarised (or not) by the runner.
    shown, history_view = plan_history(
        conversation_id=conversation.pk, system_prompt=system_prompt, history=history
    )
    expand_history(shown, model=model)
    context = build_context(system_prompt=system_prompt, history=shown)
    return LoadedTurn(reply, conversation, user, context, first_exchange, question, history_view)


def _as_text(message: Message) -> str:
    """The user's message as the title call reads it: its text, or (a message of
    attachments alone) the names of its files."""
    if message.content or not message.attachment_count:
        return message.content
    names = ", ".join(link.attachment.name for link in links_of(message))
    return f"[attached: {names}]"
