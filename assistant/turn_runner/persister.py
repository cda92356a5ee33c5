"""Writing a running reply's partial text and heartbeat, off the hot path."""

import asyncio

from assistant.db_threads import in_db_thread
from assistant.reply_lifecycle import save_partial
from assistant.turn_runner.accounting import TurnProgress

_save_partial = in_db_thread(save_partial)


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
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await _save_partial(reply_id=self._reply_id, content=self._progress.content)
            self.writes += 1
