"""Waiting for a reply's end without polling: on its task when it runs in this process, on
its live events (and the dead-runner check) when it runs in another."""

import asyncio

from django.conf import settings

from assistant.db_threads import in_db_thread
from assistant.live.fanout import following
from assistant.live.follower import ReplyFollower, follow
from assistant.turn_runner.tasks import local_turn
from conversations.models import Message


def longest_turn_seconds() -> float:
    """How long a blocking request waits for a reply at most: every retry's timeout, and
    a margin."""
    return settings.LLM_REQUEST_TIMEOUT * (settings.LLM_MAX_RETRIES + 1) + 30


async def reply_end(reply_id, conversation_id) -> Message:
    """The stored reply once it has ended (or as it stands after longest_turn_seconds)."""
    try:
        async with asyncio.timeout(longest_turn_seconds()):
            await _ended(reply_id, conversation_id)
    except TimeoutError:
        pass
    return await _stored(reply_id)


async def _ended(reply_id, conversation_id) -> None:
    task = local_turn(reply_id)
    if task is not None and await _task_done(task):
        return  # its outcome is read from the database, as any reader's
    follower = ReplyFollower(reply_id)
    async with following(conversation_id) as inbox:
        idle = settings.STREAM_STALE_AFTER_SECONDS / 2
        async for _ in follow(follower, inbox, idle_seconds=idle):
            pass


async def _task_done(task: asyncio.Task) -> bool:
    """Wait for `task` of this process, on this event loop or another (a server runs one
    loop; a thread that runs its own, as the test client's requests do, is another).
    False if its loop has closed meanwhile."""
    loop = asyncio.get_running_loop()
    if task.get_loop() is loop:
        await asyncio.wait({task})
        return True
    done = loop.create_future()

    def tell(_task) -> None:
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    try:
        task.get_loop().call_soon_threadsafe(task.add_done_callback, tell)
    except RuntimeError:  # that loop is closed: its task has ended
        return False
    await done
    return True


@in_db_thread
def _stored(reply_id) -> Message:
    return Message.objects.get(pk=reply_id)
