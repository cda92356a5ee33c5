"""Events for all of one user's open sockets, in any process: the per-user socket.

Some work belongs to a user rather than to one conversation (an image job). Its events go
to the user's group (`live.groups.user_events_group`) through the channel layer (Redis with
several processes), as `{"type": "user.event", "event": {...}}`; every socket of the user
in it — the per-user socket at /ws/events/ (the images page) and each conversation socket —
sends `event` as one JSON frame. The events are not logged: a socket that (re)connects reads
the state through the REST API, which the pages do on every connect.
"""

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from accounts.revocation import Credentials
from assistant.live.groups import user_events_group

logger = logging.getLogger("kaiwa.live")

MESSAGE_TYPE = "user.event"  # a consumer's handler: user_event
CLOSE_NOT_AUTHENTICATED = 4401

_to_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


async def publish_user_event(user_id, event: dict[str, Any]) -> None:
    """Send `event` (JSON-ready) to every open socket of `user_id`; never raises: the state
    is stored, and a socket that missed the event reads it on reconnect."""
    try:
        await get_channel_layer().group_send(
            user_events_group(user_id), {"type": MESSAGE_TYPE, "event": event}
        )
    except Exception:
        logger.warning("user_event_not_sent", extra={"event": event.get("type")}, exc_info=True)


def publish_user_event_from_sync(user_id, event: dict[str, Any]) -> None:
    """`publish_user_event` for sync code (a request's thread, a database thread)."""
    async_to_sync(publish_user_event)(user_id, event)


async def join_user_events(consumer: AsyncWebsocketConsumer, user_id) -> None:
    await consumer.channel_layer.group_add(user_events_group(user_id), consumer.channel_name)


async def leave_user_events(consumer: AsyncWebsocketConsumer, user_id) -> None:
    await consumer.channel_layer.group_discard(user_events_group(user_id), consumer.channel_name)


class UserEventsConsumer(AsyncWebsocketConsumer):
    """/ws/events/: the signed-in user's events; it takes no commands."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()  # accept first: a close before accept loses the code
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.credentials = Credentials.of_scope(self.scope)
        if not await self.credentials.watch(self.channel_layer, self.channel_name):
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.user_id = user.pk
        await join_user_events(self, self.user_id)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "credentials"):
            await self.credentials.unwatch(self.channel_layer, self.channel_name)
        if hasattr(self, "user_id"):
            await leave_user_events(self, self.user_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        """Nothing to command here."""

    async def user_event(self, message: dict[str, Any]) -> None:
        await self.send(text_data=_to_json(message["event"]))

    async def auth_changed(self, message: dict[str, Any]) -> None:
        """The user's credentials changed somewhere (accounts/revocation.py): are ours valid?"""
        if not await self.credentials.still_valid(message):
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
