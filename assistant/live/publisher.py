"""Publishing a reply's events: number, log, broadcast."""

import asyncio

from channels.layers import get_channel_layer

from assistant.live.fanout import broadcast_message, deliver, shared_layer
from assistant.live.groups import conversation_group
from assistant.live.redis_pubsub import group_channel_on_store
from assistant.live.store import RedisStore, events_key, live_store
from assistant.reply_events import ReplyEvent


class ReplyPublisher:
    """Numbers, logs and delivers the events of one reply. Used only by its runner, on its
    event loop.

    The log first, then the delivery: a follower subscribes, then reads the log, so an event
    it does not find in the log reaches it through the delivery. Followers in this process
    get the event object itself (live.fanout); the channel layer carries it only when it
    reaches other processes.
    """

    def __init__(self, *, conversation_id, message_id) -> None:
        self.conversation_id = str(conversation_id)
        self.message_id = str(message_id)
        self.seq = 0
        self._layer = get_channel_layer()
        self._shared = shared_layer(self._layer)
        self._group = conversation_group(self.conversation_id)
        self._store = live_store()
        self._key = events_key(self.message_id)
        self._redis_channel = (
            group_channel_on_store(self._layer, self._group)
            if isinstance(self._store, RedisStore)
            else None
        )
        # Keeps log order and broadcast order equal to sequence order.
        self._lock = asyncio.Lock()

    async def publish(self, event: ReplyEvent) -> ReplyEvent:
        """Give `event` the next sequence number, log it, broadcast it; returns it numbered."""
        async with self._lock:
            self.seq += 1
            event = event.numbered(self.seq)
            if not self._shared:
                await self._store.append(self._key, event)
                deliver(self.conversation_id, event)
            elif self._redis_channel is not None:
                message = self._layer.serialize(broadcast_message(event))
                await self._store.append_and_publish(
                    self._key, event, channel=self._redis_channel, message=message
                )
                deliver(self.conversation_id, event)
            else:
                await self._store.append(self._key, event)
                deliver(self.conversation_id, event)
                await self._layer.group_send(self._group, broadcast_message(event))
            return event
