"""A history too long for the context budget: its older part, summarised, in place of it.

When the active path no longer fits LLM_CONTEXT_TOKENS, the oldest whole exchanges leave
the model's view. With LLM_SUMMARIZE_HISTORY (the default) the model summarises them once;
the summary is stored (conversations.models.HistorySummary, keyed by the last message it
covers), sent after the system prompt, and reused by the turns after. Only when more of the
history has to leave is a new one made, from the previous summary and the messages after it.

A summary is made in pieces that each fit LLM_CONTEXT_TOKENS, one model call each, at most
SUMMARY_MAX_CALLS per turn (beyond that the oldest pieces are left out of it). Each call is
charged to the user's daily token quota and made only while the quota has room for it
beside the turn's own reservation; otherwise the turn goes on with the plain cut.

A new summary leaves out more than it must — the kept part is cut to KEEP_SHARE of the
room — so the next several turns fit beside it and reuse it instead of summarising again
each turn. With LLM_SUMMARIZE_HISTORY off, the older part is simply not sent.

Either way the reply records where the model's view began (Message.context_start,
Message.context_summarized), which the chat page and the API show.

`plan_history` runs where the turn is loaded (sync, no model call; when the history fits it
reads nothing); the summary itself is made by `context_with_summary`, in the turn's task,
before its model call.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from assistant.backends.base import ChatMessage
from assistant.context import (
    MESSAGE_OVERHEAD_TOKENS,
    estimate_messages_tokens,
    estimate_tokens,
    to_chat_message,
)
from assistant.db_threads import in_db_thread
from assistant.errors import LLMError
from assistant.limits import tokens_left_today
from assistant.side_calls import side_call_model, side_completion
from conversations.models import HistorySummary, Message
from usage.models import UsageKind

logger = logging.getLogger("kaiwa.turns")

SUMMARY_MAX_TOKENS = 600  # the summary's own length (its call's max_tokens)
SUMMARY_MAX_CALLS = 3  # summary calls one turn may make (see above)
KEEP_SHARE = 0.5  # a new summary keeps this share of the room in full (see above)
# What introduces the summary to the model, in the message that carries it.
SUMMARY_HEADING = (
    "Summary of the earlier part of this conversation (those messages are not shown):\n"
)
INSTRUCTIONS = (
    "You summarise the earlier part of a conversation between a user and an assistant, so "
    "that the assistant can go on with the conversation without it. Write in the language "
    "of the conversation. Keep the facts, names, numbers, decisions, the user's preferences "
    "and the open questions; leave out pleasantries. At most 250 words. If an earlier "
    "summary is given, write one summary that covers it and the new messages."
)


class SummaryOverQuota(Exception):
    """The user's daily token quota has no room for a summary call."""


@dataclass(frozen=True, slots=True)
class PendingSummary:
    """A summary to make before the model call: `base` (an earlier summary, or "") followed
    by `messages`, covering the path up to `through_id`."""

    conversation_id: object
    base: str
    messages: tuple[Message, ...]
    through_id: object


@dataclass(slots=True)
class HistoryView:
    """What the model sees of a history: from `start_id` on in full (None: all of it), and
    before it the `summary` (stored) or the one `pending` makes; `summarized` False when the
    older part is not sent at all."""

    start_id: object = None
    summary: str = ""
    pending: PendingSummary | None = None
    summarized: bool = False

    def stored_fields(self) -> dict[str, object]:
        """What the reply records of this view (a summary still pending, because the turn
        stopped before it was made, was not sent)."""
        return {
            "context_start_id": self.start_id,
            "context_summarized": self.summarized and self.pending is None,
        }


def plan_history(
    *,
    conversation_id,
    system_prompt: str,
    history: Sequence[Message],
    budget_tokens: int | None = None,
) -> tuple[list[Message], HistoryView]:
    """The part of `history` the model gets in full, and how the rest is shown to it."""
    history = list(history)
    budget = settings.LLM_CONTEXT_TOKENS if budget_tokens is None else budget_tokens
    exchanges = _exchanges(history)
    if len(exchanges) < 2:
        return history, HistoryView()  # the newest exchange always goes
    costs = [_cost(exchange) for exchange in exchanges]
    room = budget - _system_cost(system_prompt)
    if sum(costs) <= room:
        return history, HistoryView()
    if not settings.LLM_SUMMARIZE_HISTORY:
        dropped = _drop_count(costs, room)
        return _view_from(exchanges, dropped, HistoryView())
    room -= SUMMARY_MAX_TOKENS + MESSAGE_OVERHEAD_TOKENS + estimate_tokens(SUMMARY_HEADING)
    must_drop = _drop_count(costs, room)
    ends = [exchange[-1].pk for exchange in exchanges[:-1]]
    stored = dict(
        HistorySummary.objects.filter(through_id__in=ends).values_list("through_id", "content")
    )
    covered = [index for index, end in enumerate(ends) if end in stored]
    # A stored summary that covers at least what must go: the one showing the most in full.
    reusable = [index for index in covered if index + 1 >= must_drop]
    if reusable:
        dropped = min(reusable) + 1
        view = HistoryView(summary=stored[ends[dropped - 1]], summarized=True)
        return _view_from(exchanges, dropped, view)
    dropped = max(must_drop, _drop_count(costs, int(room * KEEP_SHARE)))
    earlier = [index for index in covered if index + 1 < dropped]
    start = max(earlier) + 1 if earlier else 0
    pending = PendingSummary(
        conversation_id=conversation_id,
        base=stored[ends[start - 1]] if start else "",
        messages=tuple(m for exchange in exchanges[start:dropped] for m in exchange),
        through_id=ends[dropped - 1],
    )
    return _view_from(exchanges, dropped, HistoryView(pending=pending, summarized=True))


async def context_with_summary(
    context: list[ChatMessage], view: HistoryView, *, user
) -> list[ChatMessage]:
    """`context` with the history's summary after its system prompt, made first if it is
    pending. A failed summary call leaves the older part out, as with summaries off."""
    summary = view.summary
    if view.pending is not None:
        try:
            summary = await make_summary(view.pending, user=user)
        except LLMError as exc:
            logger.warning(
                "history_summary_failed",
                extra={"conversation_id": str(view.pending.conversation_id), "code": exc.code},
            )
            summary = ""
        except SummaryOverQuota:
            logger.info(
                "history_summary_over_quota",
                extra={"conversation_id": str(view.pending.conversation_id)},
            )
            summary = ""
        view.summary, view.pending = summary, None
    view.summarized = bool(summary)
    if not summary:
        return context
    at = 1 if context and context[0].get("role") == "system" else 0
    message: ChatMessage = {"role": "system", "content": SUMMARY_HEADING + summary}
    return [*context[:at], message, *context[at:]]


async def make_summary(pending: PendingSummary, *, user) -> str:
    """Summarise `pending` (in pieces that each fit the context budget, each piece folded
    into the summary so far), store it and return it. Each call is charged as `summary`.

    At most SUMMARY_MAX_CALLS calls: of more pieces the newest are summarised (the earlier
    summary, older still, is then left out too). Raises SummaryOverQuota, before the call
    that would pass it, when the user's daily token quota has no room for the next call."""
    pieces = _pieces(pending.messages)
    summary = pending.base
    if len(pieces) > SUMMARY_MAX_CALLS:
        pieces, summary = pieces[-SUMMARY_MAX_CALLS:], ""
    for piece in pieces:
        request = _summary_request(summary, piece)
        left = await _tokens_left(user)
        if left is not None and left < estimate_messages_tokens(request) + SUMMARY_MAX_TOKENS:
            raise SummaryOverQuota
        summary = (
            await side_completion(
                user=user,
                kind=UsageKind.SUMMARY,
                messages=request,
                max_tokens=SUMMARY_MAX_TOKENS,
            )
        ).strip() or summary
    if summary:
        await _store(pending=pending, content=summary)
    return summary


def _summary_request(summary: str, messages: Sequence[Message]) -> list[ChatMessage]:
    parts = []
    if summary:
        parts.append(f"Earlier summary:\n{summary}")
    parts.append("Messages:\n" + "\n\n".join(_transcript_line(m) for m in messages))
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def _transcript_line(message: Message) -> str:
    if message.role == Message.Role.TOOL:
        return f"[tool result]\n{message.content}"
    if message.tool_calls:
        names = ", ".join(
            str((c.get("function") or {}).get("name", "")) for c in message.tool_calls
        )
        return f"[assistant called tools: {names}]"
    return f"[{message.role}]\n{message.content}"


def _pieces(messages: Sequence[Message]) -> list[list[Message]]:
    """`messages` in runs that each fit one summary call (LLM_CONTEXT_TOKENS, as every
    call's prompt) beside the instructions and the summary so far."""
    room = max(
        settings.LLM_CONTEXT_TOKENS - SUMMARY_MAX_TOKENS - estimate_tokens(INSTRUCTIONS),
        SUMMARY_MAX_TOKENS,
    )
    pieces: list[list[Message]] = [[]]
    used = 0
    for message in messages:
        cost = estimate_messages_tokens([{"role": "user", "content": _transcript_line(message)}])
        if pieces[-1] and used + cost > room:
            pieces.append([])
            used = 0
        pieces[-1].append(message)
        used += cost
    return [piece for piece in pieces if piece]


_tokens_left = in_db_thread(tokens_left_today)


@in_db_thread
def _store(*, pending: PendingSummary, content: str) -> None:
    HistorySummary.objects.update_or_create(
        through_id=pending.through_id,
        defaults={
            "conversation_id": pending.conversation_id,
            "content": content,
            "model": side_call_model(),
        },
    )


def _exchanges(history: Sequence[Message]) -> list[list[Message]]:
    """History in exchanges, each from a user message (never split: a tool result is never
    sent without the call it answers)."""
    exchanges: list[list[Message]] = []
    for message in history:
        if message.role == Message.Role.USER or not exchanges:
            exchanges.append([])
        exchanges[-1].append(message)
    return exchanges


def _cost(exchange: Sequence[Message]) -> int:
    return estimate_messages_tokens([to_chat_message(m) for m in exchange])


def _system_cost(system_prompt: str) -> int:
    if not system_prompt:
        return 0
    return estimate_messages_tokens([{"role": "system", "content": system_prompt}])


def _drop_count(costs: Sequence[int], room: int) -> int:
    """How many of the oldest exchanges must go for the rest to fit in `room` (the newest
    one always stays)."""
    kept = 0
    for cost in reversed(costs):
        if kept and cost > room:
            break
        kept += 1
        room -= cost
    return len(costs) - kept


def _view_from(
    exchanges: list[list[Message]], dropped: int, view: HistoryView
) -> tuple[list[Message], HistoryView]:
    kept = [m for exchange in exchanges[dropped:] for m in exchange]
    view.start_id = kept[0].pk if dropped and kept else None
    return kept, view
