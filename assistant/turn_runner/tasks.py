"""The turn task: starting it, running it to its end, and finding it in this process.

The task belongs to no socket and no request: a closed tab, a reload or a dropped network
does not stop it. It is stopped only by a stop (from any process, assistant.live.stop), by
the provider failing, or by its process dying, in which case the reply is later marked
`interrupted` (assistant.reply_lifecycle).
"""

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from assistant import metrics
from assistant.auto_title import spawn_title, wants_title
from assistant.db_threads import in_db_thread
from assistant.errors import LLMError, UpstreamError
from assistant.live.liveness import running
from assistant.live.publisher import ReplyPublisher
from assistant.live.stop import cancel_on_stop
from assistant.replay import terminal_event
from assistant.reply_events import Delta, Start
from assistant.reply_lifecycle import finish
from assistant.turn_runner.accounting import RoundCharge, TurnProgress, record_charges
from assistant.turn_runner.coalescer import Coalescer
from assistant.turn_runner.generation import generate
from assistant.turn_runner.loading import LoadedTurn, TurnOverrides, load_pending_turn
from assistant.turn_runner.persister import Persister
from conversations.models import Message

logger = logging.getLogger("kaiwa.turns")


@dataclass(slots=True)
class TurnOutcome:
    status: str
    error: LLMError | None = None


# The turns running in this process by reply id; also their strong references (asyncio
# keeps only weak ones).
_running: dict[str, asyncio.Task] = {}


def spawn_turn(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: LoadedTurn | None = None
) -> asyncio.Task:
    """Start the turn as a task on the running loop, detached from the caller.

    A fresh context: the task must not inherit the request's thread-sensitive context,
    which is closed when the request ends while the turn goes on. `loaded`: the turn's
    context when the caller already read it (load_started_turn).
    """
    task = asyncio.get_running_loop().create_task(
        run_turn(reply_id, overrides=overrides, loaded=loaded), context=contextvars.Context()
    )
    key = str(reply_id)
    _running[key] = task
    task.add_done_callback(lambda _: _running.pop(key, None))
    return task


def local_turn(reply_id) -> asyncio.Task | None:
    """The task running this reply in this process, if any."""
    return _running.get(str(reply_id))


async def run_turn_and_wait(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: LoadedTurn | None = None
) -> TurnOutcome:
    """Start the turn and wait for it; if the waiter goes away, the turn goes on."""
    return await asyncio.shield(spawn_turn(reply_id, overrides=overrides, loaded=loaded))


async def run_turn(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: LoadedTurn | None = None
) -> TurnOutcome:
    """Generate the reply `reply_id` (a pending assistant message) to its end."""
    # First, before any database work: readers must know this runner is alive even while
    # its database calls queue behind others (assistant.reply_lifecycle).
    running.add(reply_id)
    try:
        if loaded is None:
            loaded = await _load_pending_turn(reply_id, overrides)
        if loaded is None:
            return TurnOutcome(status="skipped")
        return await _run_loaded(loaded, overrides)
    finally:
        running.discard(reply_id)


_load_pending_turn = in_db_thread(load_pending_turn)


async def _run_loaded(loaded: LoadedTurn, overrides: TurnOverrides | None) -> TurnOutcome:
    reply, conversation = loaded.reply, loaded.conversation
    message_id = str(reply.pk)
    publisher = ReplyPublisher(conversation_id=conversation.pk, message_id=reply.pk)
    coalescer = Coalescer(
        lambda text: publisher.publish(Delta(message_id=message_id, content=text)),
        settings.STREAM_COALESCE_MS / 1000,
    )
    progress = TurnProgress()
    persister = Persister(reply.pk, progress, settings.STREAM_PERSIST_INTERVAL_SECONDS)
    started = time.monotonic()

    generation = asyncio.create_task(
        generate(loaded, overrides, publisher=publisher, coalescer=coalescer, acc=progress)
    )
    stop_watch = asyncio.create_task(cancel_on_stop(reply.pk, generation))
    await publisher.publish(
        Start(
            message_id=message_id,
            conversation_id=str(conversation.pk),
            user_message_id=str(reply.reply_to_id),
            parent_id=str(reply.parent_id) if reply.parent_id else None,
        )
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
        progress.finish_reason = "cancelled"
    except LLMError as exc:
        status, error = Message.Status.FAILED, exc
    except Exception as exc:  # a bug must not leave the reply streaming forever
        logger.exception("turn_crashed", extra={"message_id": message_id})
        status, error = Message.Status.FAILED, UpstreamError("The reply failed unexpectedly.")
        del exc
    finally:
        metrics.ACTIVE_TURNS.dec()
        stop_watch.cancel()
        await persister.stop()  # never raises: the finish below must run

    try:
        await coalescer.flush()
    except Exception:  # the live path failed (Redis?): the reply is still stored below
        logger.exception("turn_publish_failed", extra={"message_id": message_id})
    latency_ms = int((time.monotonic() - started) * 1000)
    stored = await _finish(
        reply_id=reply.pk,
        conversation_id=conversation.pk,
        status=status,
        stored_fields={
            **_stored_fields(progress, latency_ms=latency_ms, error=error),
            # Where the model's view of the history began (the chat page marks it).
            **loaded.history_view.stored_fields(),
        },
        settle=_settlement(user=loaded.user, charges=progress.take_charges()),
    )
    # From the stored reply: recovery may have ended it `interrupted` before this finish.
    await publisher.publish(terminal_event(stored))
    if (
        loaded.first_exchange
        and stored.status == Message.Status.COMPLETE
        and wants_title(conversation)
    ):
        # After `done` is out, in a task of its own: the reply never waits for its title.
        spawn_title(
            conversation_id=conversation.pk,
            user=loaded.user,
            question=loaded.question,
            answer=stored.content,
        )
    metrics.TURNS_FINISHED.labels(status).inc()
    if progress.has_usage:
        metrics.TOKENS_RELAYED.inc(progress.completion_tokens)
    logger.info(
        "turn_finished",
        extra={
            "message_id": message_id,
            "status": status,
            "latency_ms": latency_ms,
            "events": publisher.seq,
            "db_flushes": persister.writes,
        },
    )
    return TurnOutcome(status=status, error=error)


_finish = in_db_thread(finish)


def _settlement(*, user, charges: list[RoundCharge]):
    return lambda: record_charges(user=user, charges=charges)


def _stored_fields(
    progress: TurnProgress, *, latency_ms: int, error: LLMError | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "content": progress.content,
        "finish_reason": progress.finish_reason,
        "latency_ms": latency_ms,
    }
    if progress.model:
        fields["model"] = progress.model
    if progress.has_usage:
        fields["prompt_tokens"] = progress.prompt_tokens
        fields["completion_tokens"] = progress.completion_tokens
    if error is not None:
        fields["error_code"] = error.code
        fields["error_text"] = error.detail
    if progress.tools_used:
        # The reply comes after the tool calls and results it was built from.
        fields["created_at"] = timezone.now()
    return fields
