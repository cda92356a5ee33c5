"""One structured log line per model call (logger ``kaiwa.llm``), shared by every backend.

Every backend method wraps its call in ``with CallLog(...) as log:``; leaving the block
writes the line once, with the outcome the block ended with:

- "ok" when it ended normally (or when `ok()` was called, for a stream that yields its last
  event after the call is complete),
- the API.md code of an `LLMError` (which also gets the usage seen so far),
- "cancelled" when the caller went away (task cancelled, stream closed early),
- "error" for anything else: a bug, not the provider, still one line.

The line never carries a key or a header; prompt and reply are included only when
settings.LOG_REQUESTS is true, and then truncated.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from django.conf import settings

from assistant import metrics
from assistant.backends.base import ChatMessage, Usage
from assistant.errors import LLMError

logger = logging.getLogger("kaiwa.llm")

LOGGED_TEXT_CHARS = 200


def message_text(content: Any) -> str:
    """The text of a message's `content` (a string, or a list of multimodal parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def last_user_text(messages: list[ChatMessage]) -> str:
    """The text of the newest user message ('' when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


@dataclass(slots=True)
class CallLog:
    """Collects the facts of one model call while it runs; `emit()` writes the line once."""

    provider: str
    model: str
    stream: bool
    prompt: str = ""
    operation: str = "chat"
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    usage: Usage | None = None
    retries: int = 0
    reply: str = ""
    # A streamed reply's pieces, joined only if the line includes the reply.
    reply_parts: list[str] = field(default_factory=list)
    _emitted: bool = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.emit("ok")
        elif isinstance(exc, LLMError):
            exc.usage = exc.usage or self.usage  # tokens the provider billed before failing
            self.emit(exc.code)
        elif isinstance(exc, GeneratorExit | asyncio.CancelledError):
            self.emit("cancelled")
        else:
            self.emit("error")

    def ok(self) -> None:
        """Log the call as successful now (a stream, before it yields its last event)."""
        self.emit("ok")

    def first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()

    def emit(self, outcome: str) -> None:
        """Log the call; `outcome` is "ok", "cancelled" or an API.md error code."""
        if self._emitted:
            return
        self._emitted = True
        extra: dict[str, Any] = {
            "provider": self.provider,
            "operation": self.operation,
            "model": self.model,
            "stream": self.stream,
            "latency_ms": round((time.monotonic() - self.started_at) * 1000),
            "prompt_tokens": self.usage.prompt_tokens if self.usage else None,
            "completion_tokens": self.usage.completion_tokens if self.usage else None,
            "retries": self.retries,
            "outcome": outcome,
        }
        if self.stream and self.first_token_at is not None:
            extra["ttft_ms"] = round((self.first_token_at - self.started_at) * 1000)
        if getattr(settings, "LOG_REQUESTS", False):
            extra["prompt"] = self.prompt[:LOGGED_TEXT_CHARS]
            reply = self.reply or "".join(self.reply_parts)
            extra["reply"] = reply[:LOGGED_TEXT_CHARS]
        logger.info("llm_call", extra=extra)
        if self.retries:
            metrics.UPSTREAM_RETRIES.inc(self.retries)
        if outcome not in ("ok", "cancelled"):
            metrics.UPSTREAM_ERRORS.labels(outcome).inc()
