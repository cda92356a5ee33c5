"""Writing a running reply's partial text and heartbeat, off the hot path."""

import asyncio
import logging

from assistant.db_threads import in_db_thread
from assistant.reply_lifecycle import save_partial
from assistant.turn_runner.accounting import TurnProgress

_save_partial = in_db_thread(save_partial)

logger = logging.getLogger("kaiwa.turns")


class Persister:
    """Writes the partial reply and a heartbeat at most once per interval."""

    def __init__(self, reply_id, progress: TurnProgress, interval: float) -> None:
        self._reply_id = reply_id
        self._progress = progress
        self._interval = interval
        self._task: asyncio.Task | None = None
        self.writes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Never raises: the turn's finish runs after it."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:  # _loop catches its own; this is a bug, not a reason to stop
                logger.exception("persister_failed", extra={"message_id": str(self._reply_id)})

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await _save_partial(reply_id=self._reply_id, content=self._progress.content)
            except Exception:  # a lost write is retried at the next tick; the finish stores all
                logger.exception("partial_write_failed", extra={"message_id": str(self._reply_id)})
                continue
            self.writes += 1
