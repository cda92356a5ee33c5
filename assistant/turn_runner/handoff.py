"""A turn started by a request's handler thread: spawned there onto the server's event loop,
so it runs whatever becomes of the request, and awaited by the view afterwards."""

import asyncio

from asgiref.sync import async_to_sync

from assistant.turn_runner.loading import LoadedTurn, TurnOverrides
from assistant.turn_runner.tasks import TurnOutcome, spawn_turn


def spawn_from_thread(
    reply_id, *, overrides: TurnOverrides | None = None, loaded: LoadedTurn | None
) -> asyncio.Task:
    """Spawn the turn from a thread that async_to_sync can take back to its event loop (a
    view's sync_to_async thread): once this returns the turn runs, even if the view is
    cancelled (its client gone) before it waits."""
    return async_to_sync(_spawn)(reply_id, overrides, loaded)


async def _spawn(
    reply_id, overrides: TurnOverrides | None, loaded: LoadedTurn | None
) -> asyncio.Task:
    return spawn_turn(reply_id, overrides=overrides, loaded=loaded)


async def turn_outcome(task: asyncio.Task) -> TurnOutcome:
    """The spawned turn's outcome; if the waiter goes away, the turn goes on."""
    return await asyncio.shield(task)
