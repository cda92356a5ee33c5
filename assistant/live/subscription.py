"""A channel-layer channel of this process, in a group while it is open: how a runner hears
a stop and a stream hears that its credentials changed."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer


@dataclass(frozen=True, slots=True)
class Subscription:
    layer: BaseChannelLayer
    channel: str

    async def receive(self) -> dict[str, Any]:
        return await self.layer.receive(self.channel)


@asynccontextmanager
async def subscribed(group: str | None = None) -> AsyncIterator[Subscription]:
    """A new channel, in `group` (if given) until the block ends."""
    layer = get_channel_layer()
    # The default "specific." prefix matters: channels-redis reads every process-local
    # channel of one prefix in a single loop; another prefix would wait for its lock.
    channel = await layer.new_channel()
    if group is not None:
        await layer.group_add(group, channel)
    try:
        yield Subscription(layer, channel)
    finally:
        if group is not None:
            await layer.group_discard(group, channel)
