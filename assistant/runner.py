"""Running a turn: the task that streams a reply, publishes it live and stores it.

The task belongs to no socket and no request: a closed tab, a reload or a dropped network
does not stop it. It is stopped only by `stop` (from any process, through the channel
layer), by the provider failing, or by its process dying — in which case the reply is
later marked `interrupted` by `recovery`.
"""

import asyncio
import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assistant import live, metrics
from assistant.backends import get_backend
from assistant.backends.base import (
    ChatOptions,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallsRequested,
    Usage,
)
from assistant.context import build_context, estimate_messages_tokens, estimate_tokens
from assistant.db_threads import in_db_thread
from assistant.errors import LLMError, UpstreamError
from assistant.tools import registry
from assistant.turns import Turn
from conversations.allowed_models import model_for_turn
from conversations.markdown import render_markdown
from conversations.models import Conversation, Message
from usage.models import UsageKind
from usage.services import usage_record, usage_release

logger = logging.getLogger("kaiwa.turns")


@dataclass(frozen=True, slots=True)
class TurnOverrides:
    """Per-call parameters (POST /api/chat/) that do not change the conversation."""

    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    model: str | None = None  # one of LLM_MODELS, checked by the caller


@dataclass(slots=True)
class TurnOutcome:
    status: str
    error: LLMError | None = None


@dataclass(frozen=True, slots=True)
class _RoundCharge:
    """What one model round spent, for the ledger."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


@dataclass(slots=True)
class _Accumulated:
    text: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    has_usage: bool = False
    finish_reason: str = ""
    model: str = ""
    tools_used: bool = False
    tool_calls: int = 0  # executed in this turn (LLM_MAX_TOOL_CALLS_PER_TURN)
    # Rounds not yet written to the ledger (by the next tool round's or the reply's store).
    charges: list[_RoundCharge] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def content(self) -> str:
        return "".join(self.text)

    def add_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.has_usage = True
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens

    def charge_round(
        self, *, model: str, usage: Usage | None, sent: list[dict[str, Any]], received: str
    ) -> None:
        """Charge a round the provider's figures, or the local estimate of what went both
        ways when it sent none (a stop, a failure mid-stream, a server without usage)."""
        if usage is not None:
            charge = _RoundCharge(model, usage.prompt_tokens, usage.completion_tokens, False)
        else:
            charge = _RoundCharge(
                model, estimate_messages_tokens(sent), estimate_tokens(received), True
            )
        self.charges.append(charge)

    def take_charges(self) -> list[_RoundCharge]:
        charges, self.charges = self.charges, []
        return charges


def _record_charges(*, user, charges: list[_RoundCharge]) -> None:
    for charge in charges:
        usage_record(
            user=user,
            kind=UsageKind.CHAT,
            model=charge.model,
            prompt_tokens=charge.prompt_tokens,
            completion_tokens=charge.completion_tokens,
            estimated=charge.estimated,
        )


# Strong references to running turns: asyncio keeps only weak ones.
_running: set[asyncio.Task] = set()


def spawn_turn(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: "LoadedTurn | None" = None
) -> asyncio.Task:
    """Start the turn as a task on the running loop, detached from the caller.

    A fresh context: the task must not inherit the request's thread-sensitive context,
    which is closed when the request ends while the turn goes on. `loaded`: the turn's
    context when the caller already read it (load_started_turn).
    """
    task = asyncio.get_running_loop().create_task(
        run_turn(reply_id, overrides=overrides, loaded=loaded), context=contextvars.Context()
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def run_turn_and_wait(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: "LoadedTurn | None" = None
) -> TurnOutcome:
    """Start the turn and wait for it; if the waiter goes away, the turn goes on."""
    return await asyncio.shield(spawn_turn(reply_id, overrides=overrides, loaded=loaded))


class _Coalescer:
    """Publishes deltas from a task of its own, joining those that queue up meanwhile.

    The first delta goes out at once; later ones at least `window` seconds apart. While a
    publish is in flight (a Redis round trip, a busy event loop) the stream keeps being read
    and the deltas that arrive are joined into the next event: the busier the process, the
    fewer events per token, instead of a queue of one event per token. A stop cancels the
    stream, never a publish halfway through.
    """

    def __init__(self, publisher: live.ReplyPublisher, window: float) -> None:
        self._publisher = publisher
        self._window = window
        self._pending: list[str] = []
        self._last_sent = 0.0
        self._sender: asyncio.Task | None = None
        self._hurry = asyncio.Event()  # set by flush(): no more waiting for the window
        self._error: BaseException | None = None

    async def add(self, text: str) -> None:
        self._raise_failure()
        self._pending.append(text)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_pending())

    async def flush(self) -> None:
        """Publish everything added so far; returns once it is published."""
        self._hurry.set()
        try:
            if self._sender is not None:
                await asyncio.shield(self._sender)
            self._raise_failure()
        finally:
            self._hurry.clear()

    async def _send_pending(self) -> None:
        try:
            while self._pending:
                wait = self._window - (time.monotonic() - self._last_sent)
                if wait > 0 and not self._hurry.is_set():
                    try:
                        await asyncio.wait_for(self._hurry.wait(), wait)
                    except TimeoutError:
                        pass
                text = "".join(self._pending)
                self._pending.clear()
                self._last_sent = time.monotonic()
                await self._publisher.publish({"type": "message", "content": text})
                metrics.DELTA_EVENTS.inc()
        except Exception as exc:  # the turn fails with it at its next add() or flush()
            self._error = exc
        finally:
            self._sender = None

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class _Persister:
    """Writes the partial reply and a heartbeat at most once per interval, off the hot path."""

    def __init__(self, reply_id, acc: _Accumulated, interval: float) -> None:
        self._reply_id = reply_id
        self._acc = acc
        self._interval = interval
        self._task: asyncio.Task | None = None
        self.writes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await _db_update_partial(self._reply_id, self._acc.content)
            self.writes += 1


@in_db_thread
def _db_update_partial(reply_id, content: str) -> None:
    Message.objects.filter(
        pk=reply_id, status__in=[Message.Status.PENDING, Message.Status.STREAMING]
    ).update(
        content=content,
        status=Message.Status.STREAMING,
        heartbeat_at=timezone.now(),
        updated_at=timezone.now(),
    )


@dataclass(slots=True)
class LoadedTurn:
    """What a turn needs from the database before it calls the model."""

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
    first. None for an earlier turn returned for a repeated client_id: nothing to run."""
    if not turn.created:
        return None
    return _context(
        reply=turn.reply, conversation=turn.conversation, user=user, overrides=overrides
    )


def _context(
    *, reply: Message, conversation: Conversation, user, overrides: TurnOverrides | None
) -> LoadedTurn:
    history = list(
        conversation.messages.filter(created_at__lte=reply.created_at)
        .exclude(pk=reply.pk)
        .order_by("created_at", "id")
    )
    system_prompt = conversation.system_prompt
    if overrides is not None and overrides.system_prompt is not None:
        system_prompt = overrides.system_prompt
    context = build_context(system_prompt=system_prompt, history=history)
    return LoadedTurn(reply, conversation, user, context)


@in_db_thread
def _load(reply_id, overrides: TurnOverrides | None) -> LoadedTurn | None:
    """The context of a turn started with only its reply's id (run_turn without `loaded`)."""
    reply = (
        Message.objects.select_related("conversation", "conversation__owner")
        .filter(pk=reply_id, status=Message.Status.PENDING)
        .first()
    )
    if reply is None:
        return None
    conversation = reply.conversation
    return _context(
        reply=reply, conversation=conversation, user=conversation.owner, overrides=overrides
    )


@in_db_thread
def _db_store_tool_round(
    *,
    conversation: Conversation,
    outcomes: list[registry.ToolOutcome],
    user,
    charges: list[_RoundCharge],
) -> None:
    with transaction.atomic():
        _record_charges(user=user, charges=charges)
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            content="",
            tool_calls=[o.call.as_message_part() for o in outcomes],
            status=Message.Status.COMPLETE,
            finish_reason="tool_calls",
        )
        for outcome in outcomes:
            Message.objects.create(
                conversation=conversation,
                role=Message.Role.TOOL,
                content=json.dumps(outcome.result, ensure_ascii=False),
                tool_call_id=outcome.call.id,
                status=Message.Status.COMPLETE if outcome.ok else Message.Status.FAILED,
            )


@in_db_thread
def _db_finish(
    *,
    reply_id,
    conversation_id,
    status: str,
    acc: _Accumulated,
    latency_ms: int,
    user,
    charges: list[_RoundCharge],
    error: LLMError | None = None,
) -> Message:
    with transaction.atomic():
        # Settle: the turn's reservation goes, what it spent stays.
        _record_charges(user=user, charges=charges)
        usage_release(message_id=reply_id)
        fields: dict[str, Any] = {
            "content": acc.content,
            "status": status,
            "finish_reason": acc.finish_reason,
            "latency_ms": latency_ms,
            "heartbeat_at": None,
            "updated_at": timezone.now(),
        }
        if acc.model:
            fields["model"] = acc.model
        if acc.has_usage:
            fields["prompt_tokens"] = acc.prompt_tokens
            fields["completion_tokens"] = acc.completion_tokens
        if error is not None:
            fields["error_code"] = error.code
            fields["error_text"] = error.detail
        if acc.tools_used:
            # The reply comes after the tool calls and results it was built from.
            fields["created_at"] = timezone.now()
        Message.objects.filter(pk=reply_id).update(**fields)
        Conversation.objects.filter(pk=conversation_id, active_turn_id=reply_id).update(
            active_turn=None, updated_at=timezone.now()
        )
    return Message.objects.get(pk=reply_id)


async def run_turn(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: LoadedTurn | None = None
) -> TurnOutcome:
    """Generate the reply `reply_id` (a pending assistant message) to its end."""
    # First, before any database work: readers must know this runner is alive even while
    # its database calls queue behind others (recovery.py).
    live.running.add(reply_id)
    try:
        return await _run_turn(reply_id, overrides=overrides, loaded=loaded)
    finally:
        live.running.discard(reply_id)


async def _run_turn(
    reply_id, *, overrides: TurnOverrides | None, loaded: LoadedTurn | None
) -> TurnOutcome:
    if loaded is None:
        loaded = await _load(reply_id, overrides)
    if loaded is None:
        return TurnOutcome(status="skipped")
    reply, conversation = loaded.reply, loaded.conversation
    publisher = live.ReplyPublisher(conversation_id=conversation.pk, message_id=reply.pk)
    coalescer = _Coalescer(publisher, settings.STREAM_COALESCE_MS / 1000)
    acc = _Accumulated()
    persister = _Persister(reply.pk, acc, settings.STREAM_PERSIST_INTERVAL_SECONDS)
    started = time.monotonic()

    generation = asyncio.create_task(
        _generate(loaded, overrides, publisher=publisher, coalescer=coalescer, acc=acc)
    )
    stop_watch = asyncio.create_task(_watch_for_stop(reply.pk, generation))
    await publisher.publish(
        {
            "type": "start",
            "conversation_id": str(conversation.pk),
            "user_message_id": str(reply.reply_to_id),
        }
    )
    persister.start()
    metrics.ACTIVE_TURNS.inc()
    error: LLMError | None = None
    try:
        await generation
        status = Message.Status.COMPLETE
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise  # this task itself is being cancelled (shutdown): leave it to recovery
        # Otherwise only `generation` was cancelled: a stop arrived.
        status = Message.Status.CANCELLED
        acc.finish_reason = "cancelled"
    except LLMError as exc:
        status, error = Message.Status.FAILED, exc
    except Exception as exc:  # a bug must not leave the reply streaming forever
        logger.exception("turn_crashed", extra={"message_id": str(reply.pk)})
        status, error = Message.Status.FAILED, UpstreamError("The reply failed unexpectedly.")
        del exc
    finally:
        metrics.ACTIVE_TURNS.dec()
        stop_watch.cancel()
        await persister.stop()

    try:
        await coalescer.flush()
    except Exception:  # the live path failed (Redis?): the reply is still stored below
        logger.exception("turn_publish_failed", extra={"message_id": str(reply.pk)})
    latency_ms = int((time.monotonic() - started) * 1000)
    stored = await _db_finish(
        reply_id=reply.pk,
        conversation_id=conversation.pk,
        status=status,
        acc=acc,
        latency_ms=latency_ms,
        user=loaded.user,
        charges=acc.take_charges(),
        error=error,
    )
    if error is not None:
        await publisher.publish({"type": "error", "code": error.code, "error": error.detail})
    else:
        await publisher.publish(
            {
                "type": "done",
                "status": stored.status,
                "content": stored.content,
                "html": render_markdown(stored.content),
                "finish_reason": stored.finish_reason,
                "usage": stored.usage,
            }
        )
    metrics.TURNS_FINISHED.labels(status).inc()
    if acc.has_usage:
        metrics.TOKENS_RELAYED.inc(acc.completion_tokens)
    logger.info(
        "turn_finished",
        extra={
            "message_id": str(reply.pk),
            "status": status,
            "latency_ms": latency_ms,
            "events": publisher.seq,
            "db_flushes": persister.writes,
        },
    )
    return TurnOutcome(status=status, error=error)


async def _generate(
    loaded: LoadedTurn,
    overrides: TurnOverrides | None,
    *,
    publisher: live.ReplyPublisher,
    coalescer: _Coalescer,
    acc: _Accumulated,
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
    messages = list(loaded.context)
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
        await _db_store_tool_round(
            conversation=conversation,
            outcomes=outcomes,
            user=loaded.user,
            charges=acc.take_charges(),
        )
        for outcome in outcomes:
            await publisher.publish(
                {
                    "type": "tool_call",
                    "name": outcome.call.name,
                    "arguments": outcome.arguments,
                    "result": outcome.result,
                }
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
    calls: tuple[ToolCall, ...], context: registry.ToolContext, acc: _Accumulated
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


async def _watch_for_stop(reply_id, generation: asyncio.Task) -> None:
    """Cancel `generation` when a stop for this reply arrives from any process."""
    layer = get_channel_layer()
    # The default "specific." prefix matters: channels-redis reads every process-local
    # channel of one prefix in a single loop; another prefix would wait for its lock.
    channel = await layer.new_channel()
    group = live.control_group(reply_id)
    await layer.group_add(group, channel)
    try:
        if not await live.stop_requested(reply_id):
            while True:
                message = await layer.receive(channel)
                if message.get("type") == "turn.stop":
                    break
        generation.cancel()
    finally:
        await layer.group_discard(group, channel)
