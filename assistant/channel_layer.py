"""The in-process channel layer used without Redis (one process, development and tests).

It carries stop requests and credentials changes; reply events reach the followers of this
process without it (assistant/live/fanout.py). Channels' `InMemoryChannelLayer` scans every
channel's queue and every group membership for expired entries on each `group_send` and
each `receive`, and every open socket, SSE stream and running turn has a channel, so the
scans grow with the number of streams. Expiry is measured in seconds (60 by default), so
this layer runs the same cleanup at most once a second.

`group_send` also puts messages on the members' queues directly instead of creating a
task per member and waiting on them: `send` never waits, so the tasks only cost time.
"""

import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEANUP_INTERVAL_SECONDS = 1.0


class LocalChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._next_cleanup = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + CLEANUP_INTERVAL_SECONDS
        super()._clean_expired()

    async def flush(self) -> None:
        await super().flush()
        self._next_cleanup = 0.0

    async def group_send(self, group: str, message: dict) -> None:
        if not isinstance(message, dict):
            raise TypeError("Message is not a dict")
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            try:
                await self.send(channel, message)
            except ChannelFull:
                pass  # as the base layer: a full reader misses it (and catches up from the log)
