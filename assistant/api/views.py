"""Chat endpoints (API.md section 3): thin — validate, start a turn, shape the answer."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from assistant.api.awaiting import Awaited, AwaitingAPIView
from assistant.api.serializers import (
    ChatInputSerializer,
    ChatOutputSerializer,
    EditInputSerializer,
    RegenerateInputSerializer,
    RegenerateOutputSerializer,
    SendInputSerializer,
    StopOutputSerializer,
    TurnOutputSerializer,
)
from assistant.db_threads import in_db_thread
from assistant.errors import error_from_stored
from assistant.limits import SendThrottle
from assistant.reply_lifecycle import recover_stale_replies
from assistant.turn_runner.handoff import spawn_from_thread, turn_outcome
from assistant.turn_runner.loading import TurnOverrides, load_started_turn
from assistant.turn_runner.waiting import reply_end
from assistant.turns import Turn, turn_start, turn_stop
from conversations.api.serializers import MessageOutputSerializer
from conversations.api.views import (
    TREE_PARAMETER,
    MessageListView,
    request_source,
    validated_input,
)
from conversations.models import Conversation, Message


def owned_conversation(request, conversation_id) -> Conversation:
    return generics.get_object_or_404(
        Conversation.objects.for_user(request.user), pk=conversation_id
    )


def turn_completion(turn: Turn, *, user, overrides: TurnOverrides | None = None):
    """What to wait for to answer with the turn's reply: a new turn, run here to its end;
    an earlier one (same client_id), its end wherever it runs. Either raises the turn's error
    if it failed. Called where the turn started (it reads the turn's context there)."""
    loaded = load_started_turn(turn, user=user, overrides=overrides)
    # Spawned here, not when the view waits: a client gone before then leaves it running.
    task = None
    if loaded is not None:
        task = spawn_from_thread(turn.reply.pk, overrides=overrides, loaded=loaded)

    async def completed() -> Message:
        if task is not None:
            outcome = await turn_outcome(task)
            if outcome.error is not None:
                raise outcome.error
            return await _stored_reply(turn.reply.pk)
        reply = await reply_end(turn.reply.pk, turn.conversation.pk)
        if reply.status == Message.Status.FAILED:
            raise error_from_stored(reply.error_code, reply.error_text)
        return reply

    return completed


@in_db_thread
def _stored_reply(reply_id) -> Message:
    return Message.objects.get(pk=reply_id)


async def stop_and_wait(conversation: Conversation) -> Message | None:
    """Stop the conversation's running turn and wait for its end; None when none ran."""
    reply_id = await turn_stop(conversation=conversation)
    if reply_id is None:
        return None
    return await reply_end(reply_id, conversation.pk)


class ChatView(AwaitingAPIView):
    """POST /api/chat/: one message in, the whole reply out; every exchange is stored."""

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(request=ChatInputSerializer, responses=ChatOutputSerializer, tags=["chat"])
    def post(self, request):
        data = validated_input(ChatInputSerializer, request.data)
        turn = start_chat_turn(request, data)

        def answer(reply: Message) -> Response:
            return Response(
                {
                    "conversation_id": turn.conversation.pk,
                    "message_id": reply.pk,
                    "message": reply.content,
                    "model": reply.model,
                    "usage": reply.usage,
                    "status": reply.status,
                }
            )

        completed = turn_completion(turn, user=request.user, overrides=turn_overrides(data))
        return Response(Awaited(wait=completed, answer=answer))


def start_chat_turn(request, data: dict) -> Turn:
    conversation = None
    if data.get("conversation_id"):
        conversation = owned_conversation(request, data["conversation_id"])
    turn = turn_start(
        user=request.user,
        content=data["message"],
        conversation=conversation,
        client_id=data.get("client_id"),
        system_prompt=data.get("system_prompt"),
        temperature=data.get("temperature"),
        max_tokens=data.get("max_tokens"),
        model=data.get("model"),
        attachments=data.get("attachments"),
    )
    source = request_source(request)
    if conversation is None and turn.created and source != Conversation.Source.WEB:
        Conversation.objects.filter(pk=turn.conversation.pk).update(source=source)
        turn.conversation.source = source
    return turn


def start_send_turn(request, conversation_id) -> Turn:
    """Validate `{content, client_id?, attachments?}` and start a turn in one of the user's
    conversations."""
    conversation = owned_conversation(request, conversation_id)
    data = validated_input(SendInputSerializer, request.data)
    return turn_start(
        user=request.user,
        content=data["content"],
        conversation=conversation,
        client_id=data.get("client_id"),
        attachments=data.get("attachments"),
    )


def owned_message(request, message_id) -> Message:
    return generics.get_object_or_404(
        Message.objects.for_user(request.user).select_related("conversation"), pk=message_id
    )


def start_edit_turn(request, message_id) -> Turn:
    """Validate `{content, client_id?}` and start a turn with a new version of one of the
    user's messages."""
    message = owned_message(request, message_id)
    data = validated_input(
        EditInputSerializer,
        request.data,
        context={"edited_attachment_count": message.attachment_count},
    )
    return turn_start(
        user=request.user,
        content=data["content"],
        client_id=data.get("client_id"),
        edit_of=message,
        attachments=data.get("attachments"),
    )


def start_regenerate_turn(request, message_id) -> tuple[Turn, TurnOverrides]:
    """Validate `{model?, temperature?, client_id?}` and start a turn with a new version of
    one of the user's replies; the overrides apply to that turn only."""
    message = owned_message(request, message_id)
    data = validated_input(RegenerateInputSerializer, request.data)
    turn = turn_start(
        user=request.user,
        client_id=data.get("client_id"),
        model=data.get("model"),
        regenerate_of=message,
    )
    return turn, TurnOverrides(temperature=data.get("temperature"), model=data.get("model"))


def turn_overrides(data: dict) -> TurnOverrides:
    return TurnOverrides(
        system_prompt=data.get("system_prompt"),
        temperature=data.get("temperature"),
        max_tokens=data.get("max_tokens"),
        model=data.get("model"),
    )


class ConversationMessagesView(AwaitingAPIView, MessageListView):
    """GET: the conversation's messages. POST: send one and get the reply when it is done."""

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(parameters=[TREE_PARAMETER])
    def get(self, request, *args, **kwargs):
        # A reader is the moment to notice replies whose process died (they become interrupted).
        recover_stale_replies(conversation_id=owned_conversation(request, kwargs["pk"]).pk)
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SendInputSerializer, responses={201: TurnOutputSerializer}, tags=["chat"]
    )
    def post(self, request, pk):
        turn = start_send_turn(request, pk)

        return Response(both_messages_once_done(turn, user=request.user))


def turn_status(turn: Turn) -> int:
    """201 for a new turn, 200 for the earlier one a repeated client_id names."""
    return status.HTTP_201_CREATED if turn.created else status.HTTP_200_OK


def both_messages_once_done(turn: Turn, *, user) -> Awaited:
    """`{user_message, assistant_message}` once the turn's reply has ended (sends, edits)."""

    def answer(reply: Message) -> Response:
        body = {
            "user_message": MessageOutputSerializer(turn.user_message).data,
            "assistant_message": MessageOutputSerializer(reply).data,
        }
        return Response(body, status=turn_status(turn))

    return Awaited(wait=turn_completion(turn, user=user), answer=answer)


class EditView(AwaitingAPIView):
    """POST /api/messages/{id}/edit/: a new version of a user message, and its reply."""

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(
        request=EditInputSerializer, responses={201: TurnOutputSerializer}, tags=["chat"]
    )
    def post(self, request, pk):
        turn = start_edit_turn(request, pk)

        return Response(both_messages_once_done(turn, user=request.user))


class RegenerateView(AwaitingAPIView):
    """POST /api/messages/{id}/regenerate/: a new version of a reply."""

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"

    @extend_schema(
        request=RegenerateInputSerializer,
        responses={201: RegenerateOutputSerializer},
        tags=["chat"],
    )
    def post(self, request, pk):
        turn, overrides = start_regenerate_turn(request, pk)

        def answer(reply: Message) -> Response:
            body = {"assistant_message": MessageOutputSerializer(reply).data}
            return Response(body, status=turn_status(turn))

        completed = turn_completion(turn, user=request.user, overrides=overrides)
        return Response(Awaited(wait=completed, answer=answer))


class StopView(AwaitingAPIView):
    """POST /api/conversations/{id}/stop/: stop the running turn; its partial text is kept."""

    @extend_schema(request=None, responses=StopOutputSerializer, tags=["chat"])
    def post(self, request, pk):
        conversation = owned_conversation(request, pk)

        def answer(reply: Message | None) -> Response:
            if reply is None:
                return Response({"stopped": False, "message": None})
            return Response(
                {
                    "stopped": reply.status == Message.Status.CANCELLED,
                    "message": MessageOutputSerializer(reply).data,
                }
            )

        return Response(Awaited(wait=lambda: stop_and_wait(conversation), answer=answer))
