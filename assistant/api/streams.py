"""Server-Sent Events (API.md section 4): a turn's events, replayable and resumable.

The turn runs as its own task; the response only follows it. A client that disconnects
ends its response, not the turn, and can come back with GET /api/messages/{id}/stream/
and Last-Event-ID.
"""

import asyncio
import json
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.views import APIView

from accounts.revocation import ENDED, Credentials
from assistant.api.serializers import (
    ChatInputSerializer,
    EditInputSerializer,
    RegenerateInputSerializer,
    SendInputSerializer,
)
from assistant.api.views import (
    start_chat_turn,
    start_edit_turn,
    start_regenerate_turn,
    start_send_turn,
    turn_overrides,
)
from assistant.limits import SendThrottle
from assistant.live.fanout import Inbox, following
from assistant.live.follower import IDLE, ReplyFollower, follow
from assistant.live.subscription import Subscription, subscribed
from assistant.reply_events import ReplyEvent, sse_frame
from assistant.turn_runner.handoff import spawn_from_thread
from assistant.turn_runner.loading import TurnOverrides, load_started_turn
from assistant.turns import Turn
from conversations.api.views import validated_input
from conversations.models import Message

_SSE_RESPONSE = OpenApiResponse(OpenApiTypes.STR, description="text/event-stream (API.md §4)")


def sse_not_authenticated() -> bytes:
    """The event that ends a stream whose session or token has ended (no `id:`: it is not
    one of the reply's events)."""
    payload = {"type": "error", "code": "not_authenticated", "error": str(ENDED)}
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


async def follow_reply(
    reply_id, conversation_id, *, credentials: Credentials, after_seq: int = 0
) -> AsyncIterator[bytes]:
    """SSE bytes for one reply: what exists after `after_seq`, then live events to the end,
    or until `credentials` end (accounts/revocation.py)."""
    async with following(conversation_id) as inbox, subscribed() as subscription:
        # Credentials changes reach the stream's own channel; they wait in the inbox with
        # the reply's events.
        relay = asyncio.create_task(_relay_into(subscription, inbox))
        try:
            yield b": stream start\n\n"
            if not await credentials.watch(subscription.layer, subscription.channel):
                yield sse_not_authenticated()
                return
            follower = ReplyFollower(reply_id, after_seq=after_seq)
            idle = settings.SSE_KEEPALIVE_SECONDS
            async for item in follow(follower, inbox, idle_seconds=idle):
                if isinstance(item, ReplyEvent):
                    yield sse_frame(item)
                elif item is IDLE:
                    yield b": keep-alive\n\n"
                    # Also the moment to notice ended credentials: the Redis layer drops what
                    # reaches a channel while no receive waits on it, a group message included.
                    if not await credentials.valid():
                        yield sse_not_authenticated()
                        return
                elif not await credentials.still_valid(item):  # the user's credentials changed
                    yield sse_not_authenticated()
                    return
        finally:
            relay.cancel()
            await credentials.unwatch(subscription.layer, subscription.channel)


async def _relay_into(subscription: Subscription, inbox: Inbox) -> None:
    while True:
        inbox.put(await subscription.receive())


class EventStreamRenderer(BaseRenderer):
    """Lets `Accept: text/event-stream` (what EventSource sends) through content negotiation.

    Streams themselves bypass renderers; this only renders errors raised before a stream
    starts (validation, 404, 409), as one `error` event.
    """

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        payload = {"type": "error", **(data if isinstance(data, dict) else {"detail": data})}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


_SSE_RENDERERS = [JSONRenderer, EventStreamRenderer]


def event_stream_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through unbuffered
    return response


def _start_and_follow(
    request, turn: Turn, overrides: TurnOverrides | None
) -> StreamingHttpResponse:
    loaded = load_started_turn(turn, user=request.user, overrides=overrides)
    if loaded is not None:
        spawn_from_thread(turn.reply.pk, overrides=overrides, loaded=loaded)
    return event_stream_response(
        follow_reply(
            turn.reply.pk, turn.conversation.pk, credentials=Credentials.of_request(request)
        )
    )


class ChatStreamView(APIView):
    """POST /api/chat/stream/: like /api/chat/, answered as an event stream."""

    renderer_classes = _SSE_RENDERERS

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(request=ChatInputSerializer, responses={200: _SSE_RESPONSE}, tags=["chat"])
    def post(self, request):
        data = validated_input(ChatInputSerializer, request.data)
        return _start_and_follow(request, start_chat_turn(request, data), turn_overrides(data))


class MessageStreamView(APIView):
    """POST /api/conversations/{id}/messages/stream/: send, and stream the reply."""

    renderer_classes = _SSE_RENDERERS

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(request=SendInputSerializer, responses={200: _SSE_RESPONSE}, tags=["chat"])
    def post(self, request, pk):
        return _start_and_follow(request, start_send_turn(request, pk), None)


class EditStreamView(APIView):
    """POST /api/messages/{id}/edit/stream/: edit a user message, and stream the new reply."""

    renderer_classes = _SSE_RENDERERS

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(request=EditInputSerializer, responses={200: _SSE_RESPONSE}, tags=["chat"])
    def post(self, request, pk):
        return _start_and_follow(request, start_edit_turn(request, pk), None)


class RegenerateStreamView(APIView):
    """POST /api/messages/{id}/regenerate/stream/: regenerate a reply, and stream it."""

    renderer_classes = _SSE_RENDERERS

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(request=RegenerateInputSerializer, responses={200: _SSE_RESPONSE}, tags=["chat"])
    def post(self, request, pk):
        turn, overrides = start_regenerate_turn(request, pk)
        return _start_and_follow(request, turn, overrides)


class ReplyStreamView(APIView):
    """GET /api/messages/{id}/stream/: replay a reply, then follow it live to its end."""

    renderer_classes = _SSE_RENDERERS

    @extend_schema(
        parameters=[
            OpenApiParameter("Last-Event-ID", int, location=OpenApiParameter.HEADER, required=False)
        ],
        responses={200: _SSE_RESPONSE},
        tags=["chat"],
    )
    def get(self, request, pk):
        reply = generics.get_object_or_404(
            Message.objects.for_user(request.user).filter(role=Message.Role.ASSISTANT), pk=pk
        )
        try:
            after = max(0, int(request.headers.get("Last-Event-ID", "0")))
        except ValueError:
            after = 0
        return event_stream_response(
            follow_reply(
                reply.pk,
                reply.conversation_id,
                credentials=Credentials.of_request(request),
                after_seq=after,
            )
        )
