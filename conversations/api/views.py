"""CRUD API for conversations, their messages and notes. Thin: parse, call, shape."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.reply_lifecycle import recover_stale_replies
from conversations import allowed_models, export, selectors, services
from conversations.api.pagination import NotesCursorPagination, OldestFirstCursorPagination
from conversations.api.serializers import (
    ActivePathSerializer,
    AllowedModelListSerializer,
    ConversationInputSerializer,
    ConversationOutputSerializer,
    MessageOutputSerializer,
    NoteInputSerializer,
    NoteOutputSerializer,
    NoteUpdateSerializer,
)
from conversations.attachments.services import load_links
from conversations.errors import InvalidInput
from conversations.models import Conversation, Message
from conversations.tree import MessageTree, active_path


@extend_schema(tags=["conversations"])
class ConversationViewSet(viewsets.GenericViewSet):
    """The requesting user's conversations; anyone else's answer 404."""

    serializer_class = ConversationOutputSerializer
    lookup_value_converter = "uuid"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        search = self.request.query_params.get("search", "") if self.action == "list" else ""
        conversations = selectors.conversation_list(user=self.request.user, search=search)
        source = self.request.query_params.get("source", "") if self.action == "list" else ""
        if source:
            conversations = conversations.filter(source=source)
        return conversations

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Text in titles or messages"),
            OpenApiParameter(
                "source",
                str,
                enum=[choice.value for choice in Conversation.Source],
                description="Only conversations started here (web), by the REST API (api) "
                "or by the OpenAI-compatible routes (v1)",
            ),
        ]
    )
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ConversationOutputSerializer(page, many=True).data)

    @extend_schema(
        request=ConversationInputSerializer, responses={201: ConversationOutputSerializer}
    )
    def create(self, request):
        data = validated_input(ConversationInputSerializer, request.data)
        conversation = services.conversation_create(
            owner=request.user, source=request_source(request), **data
        )
        return Response(
            ConversationOutputSerializer(conversation).data, status=status.HTTP_201_CREATED
        )

    def retrieve(self, request, pk=None):
        return Response(ConversationOutputSerializer(self.get_object()).data)

    @extend_schema(request=ConversationInputSerializer, responses=ConversationOutputSerializer)
    def partial_update(self, request, pk=None):
        data = validated_input(ConversationInputSerializer, request.data, partial=True)
        conversation = services.conversation_update(conversation=self.get_object(), **data)
        return Response(ConversationOutputSerializer(conversation).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.conversation_delete(conversation=self._get_recovered_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def clear(self, request, pk=None):
        deleted = services.conversation_clear(conversation=self._get_recovered_object())
        return Response({"deleted": deleted})

    def _get_recovered_object(self) -> Conversation:
        # A reply whose process died would keep the conversation busy (409) for ever: it
        # becomes `interrupted` first.
        conversation = self.get_object()
        recover_stale_replies(conversation_id=conversation.pk)
        return conversation

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["md", "json"], default="md"),
            OpenApiParameter(
                "tree", bool, description="1 (JSON only): every message, with parent ids"
            ),
        ],
        responses={
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        conversation = self.get_object()
        fmt = request.query_params.get("format", "md")
        filename = f"conversation-{conversation.id}"
        tree = tree_requested(request)
        if fmt == "json":
            response = Response(export.export_json(conversation=conversation, tree=tree))
            response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
            return response
        if fmt != "md":
            raise InvalidInput("format must be 'md' or 'json'.")
        if tree:
            raise InvalidInput("tree=1 is offered with format=json only.")
        response = HttpResponse(
            export.export_markdown(conversation=conversation),
            content_type="text/markdown; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}.md"'
        return response


TREE_PARAMETER = OpenApiParameter(
    "tree",
    bool,
    description="1: every message of the conversation's tree, not only the active path",
)


@extend_schema(tags=["conversations"])
class MessageListView(generics.ListAPIView):
    """A conversation's active path (root → active leaf), oldest first; `?tree=1` every
    message."""

    serializer_class = MessageOutputSerializer
    pagination_class = OldestFirstCursorPagination

    def get_conversation(self) -> Conversation:
        return generics.get_object_or_404(
            Conversation.objects.for_user(self.request.user), pk=self.kwargs["pk"]
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Conversation.objects.none()
        conversation = self.get_conversation()
        self.tree = MessageTree.of(conversation.pk)
        if tree_requested(self.request):
            return selectors.message_history(conversation=conversation)
        path = self.tree.path_with_tools(self.tree.leaf(conversation.active_leaf_id))
        return selectors.message_history(conversation=conversation).filter(pk__in=path)

    @extend_schema(parameters=[TREE_PARAMETER])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        self.tree.annotate(page)
        load_links(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def tree_requested(request) -> bool:
    """`?tree=1` (or true/yes): the whole tree rather than the active path."""
    return request.query_params.get("tree", "").lower() in ("1", "true", "yes")


@extend_schema(tags=["conversations"])
class MessageSelectView(APIView):
    """POST /api/messages/{id}/select/: show that version; the active path goes through it,
    down to the newest leaf under it."""

    @extend_schema(request=None, responses=ActivePathSerializer)
    def post(self, request, pk):
        message = generics.get_object_or_404(
            Message.objects.for_user(request.user).select_related("conversation"), pk=pk
        )
        # A reply whose process died would keep the conversation busy (409) for ever.
        recover_stale_replies(conversation_id=message.conversation_id)
        conversation = services.message_select(message=message)
        messages = active_path(conversation)
        load_links(messages)
        body = {
            "conversation_id": conversation.pk,
            "active_leaf_id": conversation.active_leaf_id,
            "messages": MessageOutputSerializer(messages, many=True).data,
        }
        return Response(body)


@extend_schema(tags=["notes"])
class NoteViewSet(viewsets.GenericViewSet):
    """The requesting user's saved notes."""

    serializer_class = NoteOutputSerializer
    pagination_class = NotesCursorPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.note_list(user=self.request.user)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(NoteOutputSerializer(page, many=True).data)

    @extend_schema(request=NoteInputSerializer, responses={201: NoteOutputSerializer})
    def create(self, request):
        data = validated_input(NoteInputSerializer, request.data)
        conversation = None
        if data.get("conversation"):
            conversation = generics.get_object_or_404(
                Conversation.objects.for_user(request.user), pk=data["conversation"]
            )
        note = services.note_create(
            owner=request.user,
            title=data["title"],
            content=data["content"],
            conversation=conversation,
        )
        return Response(NoteOutputSerializer(note).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(NoteOutputSerializer(self.get_object()).data)

    @extend_schema(request=NoteUpdateSerializer, responses=NoteOutputSerializer)
    def partial_update(self, request, pk=None):
        data = validated_input(NoteUpdateSerializer, request.data)
        note = services.note_update(note=self.get_object(), **data)
        return Response(NoteOutputSerializer(note).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.note_delete(note=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["conversations"], responses=AllowedModelListSerializer)
class AllowedModelListView(APIView):
    """GET /api/models/: the models a conversation may use (LLM_MODELS), the default first."""

    def get(self, request):
        models = allowed_models.allowed_models()
        results = [
            {"id": model.id, "label": model.label, "default": index == 0}
            for index, model in enumerate(models)
        ]
        return Response({"results": results})


def validated_input(
    serializer_class, data, *, partial: bool = False, context: dict | None = None
) -> dict:
    """Validate request data with an input serializer (400 with field errors otherwise)."""
    serializer = serializer_class(data=data, partial=partial, context=context or {})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def request_source(request) -> str:
    """`api` for a request authenticated by an API token, `web` for a browser session."""
    if request.auth is not None:
        return Conversation.Source.API
    return Conversation.Source.WEB
