"""Joining a reply's deltas into fewer events when the process is busy."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from assistant import metrics


class Coalescer:
    """Publishes deltas (with `publish_text`) from a task of its own, joining those that
    queue up meanwhile.

    The first delta goes out at once; later ones at least `window` seconds apart. While a
    publish is in flight (a Redis round trip, a busy event loop) the stream keeps being read
    and the deltas that arrive are joined into the next event: the busier the process, the
    fewer events per token, instead of a queue of one event per token. A stop cancels the
    stream, never a publish halfway through.
    """

    def __init__(self, publish_text: Callable[[str], Awaitable[object]], window: float) -> None:
        self._publish_text = publish_text
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
                await self._publish_text(text)
                metrics.DELTA_EVENTS.inc()
        except Exception as exc:  # the turn fails with it at its next add() or flush()
            self._error = exc
        finally:
            self._sender = None

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
