"""Stopping a reply from any process: a flag in the live store and a broadcast to its runner."""

import asyncio

from channels.layers import get_channel_layer

from assistant.live.groups import control_group
from assistant.live.store import live_store, stop_key
from assistant.live.subscription import subscribed

STOP_TYPE = "turn.stop"


async def request_stop(message_id) -> None:
    """Ask the runner of this reply, in whatever process it runs, to stop.

    The flag covers a stop that arrives before the runner has subscribed to its control
    group; the broadcast reaches a runner that is already streaming.
    """
    await live_store().set_flag(stop_key(message_id))
    await get_channel_layer().group_send(control_group(message_id), {"type": STOP_TYPE})


async def stop_requested(message_id) -> bool:
    return await live_store().get_flag(stop_key(message_id))


async def cancel_on_stop(message_id, generation: asyncio.Task) -> None:
    """Cancel `generation` when a stop for this reply arrives from any process."""
    async with subscribed(control_group(message_id)) as subscription:
        if not await stop_requested(message_id):
            while (await subscription.receive()).get("type") != STOP_TYPE:
                pass
        generation.cancel()
