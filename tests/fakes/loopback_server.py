"""The lifecycle the loopback fakes share: an aiohttp server on 127.0.0.1 (ephemeral port) in a
background thread with its own event loop.

A thread with its own loop, not the test's loop, so that one fake serves sync tests, async
tests, Django live servers in subprocesses and the browser alike. Subclasses name themselves
(`name`), build their app in `_startup()` (usually ending with `await self._serve(app)`) and
may add to `_shutdown()`:

    with FakeSomething() as fake:   # start() … stop()
        fake.port
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
from typing import ClassVar, Self

from aiohttp import web

__all__ = ["LoopbackServer"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class LoopbackServer(abc.ABC):
    """Start, stop and run one aiohttp server on its own thread and event loop."""

    name: ClassVar[str]  # the thread's name and the subject of start() errors

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT:g}s")
        if self._startup_error is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(f"{self.name} failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed() and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):  # stopping must never raise or hang
                fut.result(timeout=STOP_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)
        self._thread = None
        self._loop = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @abc.abstractmethod
    async def _startup(self) -> None:
        """Build the app and serve it (on the server's loop); an exception fails start()."""

    async def _shutdown(self) -> None:
        """Stop serving (on the server's loop, before it stops)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(
        self, app: web.Application, *, backlog: int = 128, handler_cancellation: bool = False
    ) -> None:
        """Serve `app` on `host` at an ephemeral port and note the port."""
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=handler_cancellation
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0, backlog=backlog)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            # Handlers still running (a hung stream, a slow download) would otherwise be
            # destroyed pending when the loop closes.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
