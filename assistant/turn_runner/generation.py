"""Generating a reply: model rounds, tool calls between them, within the turn's caps."""

import asyncio
import json
import time

from django.conf import settings
from django.db import transaction

from assistant import metrics
from assistant.backends import get_backend
from assistant.backends.base import ChatOptions, StreamEnd, TextDelta, ToolCall, ToolCallsRequested
from assistant.db_threads import in_db_thread
from assistant.history_summary import context_with_summary
from assistant.live.publisher import ReplyPublisher
from assistant.reply_events import ToolCallMade
from assistant.tools import registry
from assistant.turn_runner.accounting import RoundCharge, TurnProgress, record_charges
from assistant.turn_runner.coalescer import Coalescer
from assistant.turn_runner.loading import LoadedTurn, TurnOverrides
from conversations.allowed_models import model_for_turn
from conversations.models import Conversation, Message


async def generate(
    loaded: LoadedTurn,
    overrides: TurnOverrides | None,
    *,
    publisher: ReplyPublisher,
    coalescer: Coalescer,
    acc: TurnProgress,
) -> None:
    conversation = loaded.conversation
    backend = get_backend()
    specs = registry.available_specs()
    options = ChatOptions(
        # A model no longer in LLM_MODELS falls back to the default one.
        model=model_for_turn((overrides and overrides.model) or conversation.model),
        temperature=_first_set(
            overrides and overrides.temperature,
            conversation.temperature,
            settings.LLM_DEFAULT_TEMPERATURE,
        ),
        max_tokens=_first_set(
            overrides and overrides.max_tokens,
            conversation.max_tokens,
            settings.LLM_DEFAULT_MAX_TOKENS,
        ),
        tools=specs or None,
        tool_choice="auto" if specs else None,
    )
    # The summary of older history, made first when it is due (before the model call).
    messages = await context_with_summary(
        list(loaded.context), loaded.history_view, user=loaded.user
    )
    context = registry.ToolContext(
        user=loaded.user, conversation=conversation, message=loaded.reply
    )
    max_rounds = settings.LLM_MAX_TOOL_ROUNDS
    for round_number in range(max_rounds + 1):
        if round_number == max_rounds and options.tools:
            # Out of tool rounds: the model must answer with what it has.
            options = ChatOptions(
                model=options.model,
                temperature=options.temperature,
                max_tokens=options.max_tokens,
                tools=options.tools,
                tool_choice="none",
            )
        round_text: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        end: StreamEnd | None = None
        try:
            async for event in backend.stream_chat(messages=messages, options=options):
                if isinstance(event, TextDelta):
                    if event.text:
                        if not acc.text:
                            metrics.TIME_TO_FIRST_TOKEN.observe(time.monotonic() - acc.started)
                        round_text.append(event.text)
                        acc.text.append(event.text)
                        await coalescer.add(event.text)
                elif isinstance(event, ToolCallsRequested):
                    calls = event.calls
                elif isinstance(event, StreamEnd):
                    end = event
                    acc.add_usage(event.usage)
                    acc.finish_reason = event.finish_reason
                    acc.model = event.model or acc.model
        except BaseException as exc:
            # Stopped or failed mid-round: charged what it used, the provider's figures if
            # the failure carried them, else the estimate. A failure with neither figures
            # nor text is not charged (the provider answered an error, or never answered);
            # a stop always is (the provider was working on it).
            usage = getattr(exc, "usage", None)
            acc.add_usage(usage)
            if usage is not None or round_text or isinstance(exc, asyncio.CancelledError):
                acc.charge_round(
                    model=options.model or backend.info.default_model,
                    usage=usage,
                    sent=messages,
                    received="".join(round_text),
                )
            raise
        acc.charge_round(
            model=(end and end.model) or options.model or backend.info.default_model,
            usage=end.usage if end is not None else None,
            sent=messages,
            received="".join(round_text) + "".join(c.name + c.arguments for c in calls),
        )
        if not calls or round_number == max_rounds:
            return
        await coalescer.flush()
        acc.tools_used = True
        outcomes = await _execute_capped(calls, context, acc)
        await _store_tool_round(
            conversation=conversation,
            reply_id=loaded.reply.pk,
            outcomes=outcomes,
            user=loaded.user,
            charges=acc.take_charges(),
        )
        for outcome in outcomes:
            await publisher.publish(
                ToolCallMade(
                    message_id=publisher.message_id,
                    name=outcome.call.name,
                    arguments=outcome.arguments,
                    result=outcome.result,
                )
            )
        messages.append(
            {
                "role": "assistant",
                "content": "".join(round_text) or None,
                "tool_calls": [o.call.as_message_part() for o in outcomes],
            }
        )
        for outcome in outcomes:
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": outcome.call.id,
                    "content": json.dumps(outcome.result, ensure_ascii=False),
                }
            )


async def _execute_capped(
    calls: tuple[ToolCall, ...], context: registry.ToolContext, acc: TurnProgress
) -> list[registry.ToolOutcome]:
    """Run the round's calls up to LLM_MAX_TOOL_CALLS_PER_ROUND and the turn's
    LLM_MAX_TOOL_CALLS_PER_TURN; each call past a cap gets an error result instead (the
    API needs a result for every tool_call id), so the model answers with what it has."""
    per_round = settings.LLM_MAX_TOOL_CALLS_PER_ROUND
    per_turn = settings.LLM_MAX_TOOL_CALLS_PER_TURN
    outcomes = []
    for index, call in enumerate(calls):
        if index >= per_round:
            outcomes.append(registry.not_run(call, f"at most {per_round} tool calls per round"))
        elif acc.tool_calls >= per_turn:
            outcomes.append(registry.not_run(call, f"at most {per_turn} tool calls per turn"))
        else:
            acc.tool_calls += 1
            outcomes.append(await registry.execute(call, context))
    return outcomes


def _first_set(*values):
    return next(v for v in values if v is not None)


def store_tool_round(
    *,
    conversation: Conversation,
    reply_id,
    outcomes: list[registry.ToolOutcome],
    user,
    charges: list[RoundCharge],
) -> None:
    """The round's assistant message (its tool calls) and one message per result, attached to
    the turn's reply `reply_id` (they are not nodes of the message tree), with the round's
    charges to the ledger in the same transaction."""
    with transaction.atomic():
        record_charges(user=user, charges=charges)
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            content="",
            turn_reply_id=reply_id,
            tool_calls=[o.call.as_message_part() for o in outcomes],
            status=Message.Status.COMPLETE,
            finish_reason="tool_calls",
        )
        for outcome in outcomes:
            Message.objects.create(
                conversation=conversation,
                role=Message.Role.TOOL,
                turn_reply_id=reply_id,
                content=json.dumps(outcome.result, ensure_ascii=False),
                tool_call_id=outcome.call.id,
                status=Message.Status.COMPLETE if outcome.ok else Message.Status.FAILED,
            )


_store_tool_round = in_db_thread(store_tool_round)
