"""Writing running replies' partial text and heartbeat, off the hot path.

Every reply running on an event loop is written by that loop's one `_PartialWrites`: once
per interval, all of them in one trip to a database thread and one transaction
(reply_lifecycle.save_partials). Each reply still gets its text and heartbeat written once
per interval; the process makes one write transaction per interval instead of one per
running reply, so that at a few hundred replies the turn starts no longer queue behind
their writes for the database threads and SQLite's write lock.
"""

import asyncio
import logging
import weakref

from assistant.db_threads import in_db_thread
from assistant.reply_lifecycle import save_partials
from assistant.turn_runner.accounting import TurnProgress

_save_partials = in_db_thread(save_partials)

logger = logging.getLogger("kaiwa.turns")


class Persister:
    """Writes the partial reply and a heartbeat once per interval, from `start` to `stop`."""

    def __init__(self, reply_id, progress: TurnProgress, interval: float) -> None:
        self.reply_id = reply_id
        self.progress = progress
        self._interval = interval
        self._writes: _PartialWrites | None = None
        self.writes = 0  # the writes of this reply that succeeded

    def start(self) -> None:
        self._writes = _PartialWrites.of_running_loop(self._interval)
        self._writes.add(self)

    async def stop(self) -> None:
        """Never raises: the turn's finish runs after it. A batch already on its way may
        still write this reply's partial text; it changes only an unfinished reply, so it
        cannot undo the finish."""
        if self._writes is not None:
            await self._writes.discard(self)


class _PartialWrites:
    """The partial writes of the replies running on one event loop (one per interval)."""

    # Per event loop (a server runs one; tests run several) and interval.
    _by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def of_running_loop(cls, interval: float) -> "_PartialWrites":
        per_interval = cls._by_loop.setdefault(asyncio.get_running_loop(), {})
        writes = per_interval.get(interval)
        if writes is None:
            writes = per_interval[interval] = cls(interval)
        return writes

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._persisters: dict[Persister, None] = {}  # an ordered set
        self._task: asyncio.Task | None = None

    def add(self, persister: Persister) -> None:
        self._persisters[persister] = None
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def discard(self, persister: Persister) -> None:
        self._persisters.pop(persister, None)
        if self._persisters or self._task is None:
            return
        # The last reply ended: nothing to wait for (a turn's end leaves no task behind).
        task, self._task = self._task, None
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # the caller itself is being cancelled
        except Exception:  # _loop catches its own; this is a bug, not a reason to stop
            logger.exception("persister_failed")

    async def _loop(self) -> None:
        while self._persisters:
            await asyncio.sleep(self._interval)
            batch = list(self._persisters)
            try:
                await _save_partials([(p.reply_id, p.progress.content) for p in batch])
            except Exception:  # a lost write is retried at the next tick; the finish stores all
                logger.exception(
                    "partial_write_failed", extra={"message_ids": [str(p.reply_id) for p in batch]}
                )
                continue
            for persister in batch:
                persister.writes += 1
        if self._task is asyncio.current_task():
            self._task = None
