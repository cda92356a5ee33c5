"""The conversation WebSocket (API.md section 5).

A socket only watches and commands; the turn it starts runs on its own. Any socket of the
conversation's owner — another tab, another server process sharing Redis — sees the same
reply: a snapshot on connect, then the deltas after it.
"""

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.revocation import Credentials
from assistant.db_threads import in_db_thread
from assistant.limits import send_rate_check
from assistant.live.fanout import following
from assistant.live.follower import ReplyFollower
from assistant.reply_events import ReplyEvent, ws_frame
from assistant.reply_lifecycle import active_reply_id
from assistant.turn_runner.loading import LoadedTurn, TurnOverrides, load_started_turn
from assistant.turn_runner.tasks import spawn_turn
from assistant.turns import Turn, turn_start, turn_stop
from assistant.user_events import join_user_events, leave_user_events
from config import json_input
from config.socket_language import activate_socket_language
from conversations.api.serializers import MessageOutputSerializer
from conversations.attachments.services import parse_attachment_ids
from conversations.errors import DomainError, InvalidInput, NotFound
from conversations.models import Conversation, Message
from conversations.validation import validate_temperature

MAX_FRAME_BYTES = 64 * 1024
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
# Application close codes must be 4000-4999 (RFC 6455 reserves 1009 for the server stack).
CLOSE_TOO_BIG = 4413
# One encoder for every frame: json.dumps with options builds a new one per call.
_to_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


class ConversationConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        # The events speak the reader's language (an attachment's included_note), as the
        # chat page that opened the socket does.
        activate_socket_language(self.scope)
        user = self.scope.get("user")
        # Accept first, then close: a close before accept loses the application's code.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        # Closed with 4401 when this session ends: log-out, password change, deactivation.
        self.credentials = Credentials.of_scope(self.scope)
        if not await self.credentials.watch(self.channel_layer, self.channel_name):
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        self.conversation = await _owned_conversation(
            user, self.scope["url_route"]["kwargs"]["conversation_id"]
        )
        if self.conversation is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user = user
        # The user's events too: image jobs, titles written in the background (every tab's
        # sidebar follows).
        await join_user_events(self, user.pk)
        self.followers: dict[str, ReplyFollower] = {}
        self.tasks: list[asyncio.Task] = []
        self.exit_stack = AsyncExitStack()
        # Opened before the snapshot is read, so nothing published in between is missed.
        self.inbox = await self.exit_stack.enter_async_context(following(self.conversation.pk))
        await self._send_snapshot()
        self.tasks.append(asyncio.create_task(self._forward_inbox()))
        self.tasks.append(asyncio.create_task(self._watch_for_dead_turns()))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "credentials"):
            await self.credentials.unwatch(self.channel_layer, self.channel_name)
        for task in getattr(self, "tasks", ()):
            task.cancel()
        if hasattr(self, "exit_stack"):
            await self.exit_stack.aclose()
        if hasattr(self, "user"):
            await leave_user_events(self, self.user.pk)

    # --- client → server ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if not hasattr(self, "inbox"):
            return
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw.encode()) > MAX_FRAME_BYTES:
            await self._send_error("invalid", "The frame is larger than 64 KiB.")
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            command = json_input.loads(raw)
        except json_input.UnreadableJSON as exc:
            await self._send_error("invalid", str(exc))
            return
        kind = command.get("type") if isinstance(command, dict) else None
        try:
            if kind == "send":
                await self._send_message(command)
            elif kind == "edit":
                await self._edit_message(command)
            elif kind == "regenerate":
                await self._regenerate_reply(command)
            elif kind == "stop":
                await turn_stop(conversation=self.conversation)
            else:
                raise InvalidInput(
                    "Unknown message type; expected 'send', 'edit', 'regenerate' or 'stop'."
                )
        except DomainError as exc:
            await self._send_error(exc.code, exc.detail)

    async def _send_message(self, command: dict[str, Any]) -> None:
        content = _text(command, "content")
        client_id = _parse_uuid(command.get("client_id"))
        turn, message, loaded = await _start_turn(
            user=self.user,
            conversation=self.conversation,
            content=content,
            client_id=client_id,
            attachments=parse_attachment_ids(command.get("attachments")),
        )
        await self._send_json({"type": "user_message", "message": message})
        await self._run_or_replay(turn, loaded)

    async def _edit_message(self, command: dict[str, Any]) -> None:
        message_id = _parse_uuid(command.get("message_id"), name="message_id", required=True)
        content = _text(command, "content")
        client_id = _parse_uuid(command.get("client_id"))
        # Left out, the new version keeps the edited message's attachments.
        attachments = (
            parse_attachment_ids(command["attachments"]) if "attachments" in command else None
        )
        turn, message, loaded = await _start_edit(
            user=self.user,
            conversation=self.conversation,
            message_id=message_id,
            content=content,
            client_id=client_id,
            attachments=attachments,
        )
        await self._send_json(
            {"type": "user_message", "parent_id": message["parent_id"], "message": message}
        )
        await self._run_or_replay(turn, loaded)

    async def _regenerate_reply(self, command: dict[str, Any]) -> None:
        message_id = _parse_uuid(command.get("message_id"), name="message_id", required=True)
        overrides = TurnOverrides(
            model=_optional_model(command.get("model")),
            temperature=_optional_temperature(command.get("temperature")),
        )
        client_id = _parse_uuid(command.get("client_id"))
        turn, loaded = await _start_regeneration(
            user=self.user,
            conversation=self.conversation,
            message_id=message_id,
            overrides=overrides,
            client_id=client_id,
        )
        await self._run_or_replay(turn, loaded, overrides)

    async def _run_or_replay(
        self, turn: Turn, loaded: LoadedTurn | None, overrides: TurnOverrides | None = None
    ) -> None:
        if turn.created:
            spawn_turn(turn.reply.pk, overrides=overrides, loaded=loaded)
        else:
            # A repeated client_id: show the earlier reply as it stands.
            self.followers.pop(str(turn.reply.pk), None)
            follower = self._follower(str(turn.reply.pk))
            for event in await follower.backlog():
                await self._forward(event)

    # --- server → client ----------------------------------------------------------------

    async def _forward_inbox(self) -> None:
        """The conversation's reply events, from this process's runners or others'."""
        while True:
            event = await self.inbox.get()
            for out in await self._follower(event.message_id).feed(event):
                await self._forward(out)

    async def auth_changed(self, message: dict[str, Any]) -> None:
        """The user's credentials changed somewhere (accounts/revocation.py): are ours valid?"""
        if not await self.credentials.still_valid(message):
            await self.close(code=CLOSE_NOT_AUTHENTICATED)

    async def user_event(self, message: dict[str, Any]) -> None:
        """One of the user's events (assistant/user_events.py), such as `image_job`."""
        await self._send_json(message["event"])

    def _follower(self, message_id: str) -> ReplyFollower:
        follower = self.followers.get(message_id)
        if follower is None:
            follower = self.followers[message_id] = ReplyFollower(message_id)
        return follower

    async def _send_snapshot(self) -> None:
        active = await _active_reply(self.conversation.pk)
        if active is None:
            return
        reply_id, parent_id = active
        follower = self._follower(str(reply_id))
        text, seq, ended = await follower.snapshot()
        await self._send_json(
            {
                "type": "snapshot",
                "message_id": str(reply_id),
                "parent_id": str(parent_id) if parent_id else None,
                "seq": seq,
                "content": text,
            }
        )
        # The turn may have ended between the subscription and the read.
        for event in ended:
            await self._forward(event)

    async def _watch_for_dead_turns(self) -> None:
        """A reply whose runner died sends nothing more: notice it and end it here."""
        while True:
            await asyncio.sleep(settings.STREAM_STALE_AFTER_SECONDS / 2)
            for follower in list(self.followers.values()):
                if not follower.finished:
                    for event in await follower.if_ended():
                        await self._forward(event)

    async def _forward(self, event: ReplyEvent) -> None:
        # The follower of an ended reply stays in `followers`: it drops any late event of
        # that reply (the live `done` after the watchdog closed the reply from the database,
        # deltas queued behind a catch-up) instead of a new follower replaying the log.
        await self._send_json(ws_frame(event))

    async def _send_error(self, code: str, message: str, message_id: str | None = None) -> None:
        await self._send_json(
            {"type": "error", "message_id": message_id, "code": code, "message": message}
        )

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=_to_json(payload))


def _text(command: dict[str, Any], name: str) -> str:
    value = command.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.")
    return value


def _parse_uuid(value, *, name: str = "client_id", required: bool = False):
    if value in (None, "") and not required:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidInput(f"'{name}' must be a UUID.") from exc


def _optional_model(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("'model' must be a string.")
    return value  # checked against LLM_MODELS by turn_start


def _optional_temperature(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("'temperature' must be a number.")
    return validate_temperature(float(value))


@in_db_thread
def _start_turn(
    *, user, conversation: Conversation, content: str, client_id, attachments: list
) -> tuple[Turn, dict, LoadedTurn | None]:
    """Rate check, turn start, the user message's JSON and the runner's context in one trip
    to a database thread (each trip is a thread hand-off, which under load waits its turn)."""
    send_rate_check(user=user)
    turn = turn_start(
        user=user,
        content=content,
        conversation=conversation,
        client_id=client_id,
        attachments=attachments,
    )
    loaded = load_started_turn(turn, user=user)
    return turn, _MESSAGE_JSON.to_representation(turn.user_message), loaded


@in_db_thread
def _start_edit(
    *, user, conversation: Conversation, message_id, content: str, client_id, attachments
) -> tuple[Turn, dict, LoadedTurn | None]:
    """_start_turn for a new version of one of this conversation's user messages."""
    send_rate_check(user=user)
    turn = turn_start(
        user=user,
        content=content,
        client_id=client_id,
        edit_of=_message_of(conversation, message_id),
        attachments=attachments,
    )
    loaded = load_started_turn(turn, user=user)
    return turn, _MESSAGE_JSON.to_representation(turn.user_message), loaded


@in_db_thread
def _start_regeneration(
    *, user, conversation: Conversation, message_id, overrides: TurnOverrides, client_id
) -> tuple[Turn, LoadedTurn | None]:
    """_start_turn for a new version of one of this conversation's replies."""
    send_rate_check(user=user)
    turn = turn_start(
        user=user,
        client_id=client_id,
        model=overrides.model,
        regenerate_of=_message_of(conversation, message_id),
    )
    return turn, load_started_turn(turn, user=user, overrides=overrides)


def _message_of(conversation: Conversation, message_id) -> Message:
    """A message of this socket's conversation (which is the user's); anything else, another
    user's message included, is not found."""
    message = (
        Message.objects.select_related("conversation")
        .filter(pk=message_id, conversation=conversation)
        .first()
    )
    if message is None:
        raise NotFound("No such message in this conversation.")
    return message


# One serializer for every socket's user_message events: a new ModelSerializer introspects the
# model for its fields each time (about 0.5 ms, per send, on the turn's critical path); a
# built one only reads attributes, so sharing it between the database threads is safe.
_MESSAGE_JSON = MessageOutputSerializer()


@in_db_thread
def _owned_conversation(user, conversation_id) -> Conversation | None:
    return Conversation.objects.for_user(user).filter(pk=conversation_id).first()


@in_db_thread
def _active_reply(conversation_id) -> tuple | None:
    """The running reply's id and its parent (after recovering a dead one), or None."""
    reply_id = active_reply_id(conversation_id)
    if reply_id is None:
        return None
    parent_id = Message.objects.filter(pk=reply_id).values_list("parent_id", flat=True).first()
    return reply_id, parent_id
