"""One relayed call: the provider's answer passed on as it comes, and stored on the way.

A stream runs as a task of its own that reads the provider's chunks and puts their bytes
on a queue (its database calls run on the turn threads, assistant/db_threads.py, since it
outlives the request); the response only writes what it takes from the queue. So a client that goes
away cancels the task, which closes the upstream request and stores the reply `cancelled`
with the text it had. The partial text is written at most every
STREAM_PERSIST_INTERVAL_SECONDS, as for any reply, and each chunk is parsed once
(`json.loads`, in the backend) and sent on as the provider wrote it.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from assistant.backends import get_backend
from assistant.context import estimate_messages_tokens, estimate_tokens
from assistant.db_threads import in_db_thread
from assistant.errors import LLMError, UpstreamError
from assistant.live.liveness import running
from assistant.openai_compat.errors import CompatError
from assistant.openai_compat.request import CompletionRequest
from assistant.openai_compat.storage import StartedCall, call_finish
from assistant.reply_lifecycle import save_partial

logger = logging.getLogger("kaiwa.openai_compat")

_END = object()


class ToolCallAssembler:
    """Streamed tool-call fragments joined by their index, as OpenAI sends them."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragments: list[dict[str, Any]]) -> None:
        for fragment in fragments:
            index = fragment.get("index", len(self._calls))
            call = self._calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if fragment.get("id"):
                call["id"] = fragment["id"]
            function = fragment.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""

    def calls(self) -> list[dict[str, Any]]:
        return [call for _, call in sorted(self._calls.items())]


class Relay:
    def __init__(self, *, user, request: CompletionRequest, call: StartedCall) -> None:
        self.user = user
        self.request = request
        self.call = call
        self.started = time.monotonic()
        self.text: list[str] = []
        self.tools = ToolCallAssembler()
        self.model = request.model
        self.usage: tuple[int, int] | None = None
        self.finish_reason = ""

    # -- without streaming -----------------------------------------------------------

    async def complete(self) -> dict[str, Any]:
        try:
            completion = await get_backend().relay_complete(body=self.request.body)
            self._take_completion(completion)
        except LLMError as exc:
            await self._end("failed", error=(exc.code, exc.detail))
            raise CompatError.from_domain(exc) from None
        except asyncio.CancelledError:
            await self._end("cancelled")
            raise
        except Exception:  # an answer we cannot read must not leave the call running
            logger.exception("v1_relay_failed")
            error = UpstreamError("The provider's answer could not be read.")
            await self._end("failed", error=(error.code, error.detail))
            raise CompatError.from_domain(error) from None
        await self._end("complete")
        return completion

    def _take_completion(self, completion: dict[str, Any]) -> None:
        choice = (completion.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        self.text = [message.get("content") or ""]
        self.tools.add(
            [{"index": index, **call} for index, call in enumerate(message.get("tool_calls") or ())]
        )
        self.finish_reason = choice.get("finish_reason") or ""
        self.model = completion.get("model") or self.model
        self._take_usage(completion.get("usage"))

    # -- streaming -------------------------------------------------------------------

    async def open_stream(self) -> AsyncIterator[bytes]:
        """Start the upstream stream; CompatError when it fails before its first chunk
        (so the client gets the status), else the response's body."""
        queue: asyncio.Queue = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self._pump(queue))
        try:
            first = await queue.get()
        except asyncio.CancelledError:
            task.cancel()
            raise
        if isinstance(first, CompatError):
            await task
            raise first
        return self._body(first, queue, task)

    async def _body(self, first, queue: asyncio.Queue, task: asyncio.Task):
        item = first
        try:
            while item is not _END:
                yield item
                item = await queue.get()
        finally:
            if not task.done():
                task.cancel()  # the client went away: close upstream, store `cancelled`

    async def _pump(self, queue: asyncio.Queue) -> None:
        sent_any = False
        persist = _Persister(self.call.reply_id)
        wants_usage = self.request.client_wants_usage
        chunks = get_backend().relay_stream(body=self.request.body)
        try:
            async with contextlib.aclosing(chunks):
                async for data, chunk in chunks:
                    self._take_chunk(chunk)
                    if not chunk.get("choices") and chunk.get("usage") and not wants_usage:
                        continue  # asked for the ledger, not by the client
                    queue.put_nowait(b"data: " + data.encode() + b"\n\n")
                    sent_any = True
                    persist.maybe("".join(self.text))
            await persist.settle()
            await self._end("complete")
            queue.put_nowait(b"data: [DONE]\n\n")
        except LLMError as exc:
            await persist.settle()
            await self._end("failed", error=(exc.code, exc.detail))
            error = CompatError.from_domain(exc)
            if not sent_any:
                queue.put_nowait(error)
                return
            # OpenAI reports a failure inside a stream as an `error` event.
            queue.put_nowait(b"data: " + json.dumps(error.body()).encode() + b"\n\n")
        except asyncio.CancelledError:
            await persist.settle()
            await self._end("cancelled")
            raise
        except Exception:
            logger.exception("v1_relay_failed")
            await persist.settle()
            await self._end("failed", error=("upstream_error", "The relay failed."))
            if not sent_any:
                queue.put_nowait(CompatError("The relay failed.", status=500, code="error"))
                return
        queue.put_nowait(_END)

    def _take_chunk(self, chunk: dict[str, Any]) -> None:
        if chunk.get("model") and self.model == self.request.model:
            self.model = chunk["model"]
        self._take_usage(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            if choice.get("index"):
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
            if delta.get("tool_calls"):
                self.tools.add(delta["tool_calls"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.usage = (usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)

    async def _end(self, status: str, *, error: tuple[str, str] | None = None) -> None:
        text = "".join(self.text)
        try:
            await self._store_end(status, text, self.request.messages, error)
        finally:
            running.discard(self.call.reply_id)

    async def _store_end(self, status, text, prompt, error) -> None:
        await in_db_thread(call_finish)(
            user=self.user,
            call=self.call,
            status=status,
            content=text,
            tool_calls=self.tools.calls(),
            model=self.model,
            usage=self.usage,
            estimated_usage=(estimate_messages_tokens(prompt), estimate_tokens(text)),
            finish_reason=self.finish_reason,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            error=error,
        )


class _Persister:
    """The partial text written at most every STREAM_PERSIST_INTERVAL_SECONDS, one write at
    a time, never holding up the stream."""

    def __init__(self, reply_id) -> None:
        self.reply_id = reply_id
        self.last = time.monotonic()
        self.writing: asyncio.Task | None = None

    def maybe(self, text: str) -> None:
        now = time.monotonic()
        if now - self.last < settings.STREAM_PERSIST_INTERVAL_SECONDS:
            return
        if self.writing is not None and not self.writing.done():
            return
        self.last = now
        self.writing = asyncio.get_running_loop().create_task(
            in_db_thread(save_partial)(reply_id=self.reply_id, content=text)
        )

    async def settle(self) -> None:
        if self.writing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.writing)
