"""Input and output shapes of the CRUD API. No business rules here: services own them,
and the rules for text and model parameters are conversations.validation's."""

import functools
from collections.abc import Callable

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations import allowed_models, validation
from conversations.attachments.services import message_attachments_json
from conversations.models import Attachment, Conversation, Message, SavedNote
from conversations.tree import position_of
from conversations.validation import InvalidText


class RuleTextField(serializers.CharField):
    """Text checked by a rule of conversations.validation; its field message on failure.

    `text_only`: refuse anything but a JSON string (DRF would quietly turn 12 into "12")."""

    def __init__(self, *, rule: Callable[[str], str], text_only: bool = False, **kwargs):
        self.rule = rule
        self.text_only = text_only
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) or not self.text_only:
            data = super().to_internal_value(data)
        try:
            return self.rule(data)
        except InvalidText as exc:
            raise serializers.ValidationError(exc.field_message) from None


class MessageTextField(RuleTextField):
    """A message: 1..MAX_MESSAGE_CHARS characters, not only whitespace, a JSON string.

    `may_be_empty`: empty or only whitespace passes the field (a message carrying
    attachments needs no text); the serializer then decides, knowing the attachments."""

    def __init__(self, *, may_be_empty: bool = False, **kwargs):
        rule = functools.partial(validation.validate_message_text, may_be_empty=may_be_empty)
        if may_be_empty:
            kwargs.setdefault("allow_blank", True)
        super().__init__(rule=rule, text_only=True, **kwargs)


class SystemPromptField(RuleTextField):
    """A system prompt: at most MAX_SYSTEM_PROMPT_CHARS characters; empty is allowed."""

    def __init__(self, **kwargs):
        super().__init__(rule=validation.validate_system_prompt, allow_blank=True, **kwargs)


class MaxTokensField(serializers.IntegerField):
    """1..LLM_MAX_TOKENS_CAP (conversations.validation.validate_max_tokens)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, **kwargs)

    def to_internal_value(self, data):
        try:
            return validation.validate_max_tokens(super().to_internal_value(data))
        except InvalidText as exc:
            raise serializers.ValidationError(exc.field_message) from None


class TemperatureField(serializers.FloatField):
    def __init__(self, **kwargs):
        super().__init__(
            min_value=validation.MIN_TEMPERATURE, max_value=validation.MAX_TEMPERATURE, **kwargs
        )


class AllowedModelField(serializers.CharField):
    """A model id from GET /api/models/ (LLM_MODELS); empty means the default model."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text", "One of the ids of GET /api/models/; empty for the default model."
        )
        super().__init__(max_length=allowed_models.MAX_MODEL_ID_CHARS, allow_blank=True, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not allowed_models.is_allowed(value):
            raise serializers.ValidationError(allowed_models.not_allowed_message())
        return value


class ConversationOutputSerializer(serializers.ModelSerializer):
    busy = serializers.SerializerMethodField()
    active_leaf_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The last message of the active path (null when there are no messages).",
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "title_source",
            "system_prompt",
            "model",
            "temperature",
            "max_tokens",
            "source",
            "busy",
            "active_leaf_id",
            "created_at",
            "updated_at",
        ]

    def get_busy(self, obj: Conversation) -> bool:
        return obj.active_turn_id is not None


class ConversationInputSerializer(serializers.Serializer):
    title = serializers.CharField(
        max_length=validation.MAX_TITLE_CHARS, required=False, allow_blank=True
    )
    system_prompt = SystemPromptField(required=False)
    model = AllowedModelField(required=False)
    temperature = TemperatureField(required=False, allow_null=True)
    max_tokens = MaxTokensField(required=False, allow_null=True)


class AllowedModelSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The value of a conversation's `model`.")
    label = serializers.CharField()
    default = serializers.BooleanField(help_text="The model of a conversation without one.")


class AllowedModelListSerializer(serializers.Serializer):
    results = AllowedModelSerializer(many=True)


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class AttachmentSerializer(serializers.Serializer):
    """An attachment (conversations.attachments.services.attachment_json)."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Attachment.Kind.choices)
    name = serializers.CharField(help_text="The uploaded file's name.")
    size = serializers.IntegerField(help_text="Bytes stored (an image as scaled down).")
    content_type = serializers.CharField(help_text="Judged from the bytes, not the name.")
    url = serializers.CharField(help_text="/api/attachments/{id}/file/, owner only.")
    pages = serializers.IntegerField(allow_null=True, help_text="A PDF's page count.")
    included_note = serializers.CharField(
        allow_null=True,
        help_text="On a message: the part of a document the model read when it did not fit "
        'whole (e.g. "pages 1–12 of 40"); null when it read all of it.',
    )


class AttachmentUploadOutputSerializer(AttachmentSerializer):
    included_note = None
    tokens = serializers.IntegerField(help_text="What it costs in the context, estimated.")


class MessageOutputSerializer(serializers.ModelSerializer):
    usage = UsageSerializer(allow_null=True, read_only=True)
    error = ErrorSerializer(allow_null=True, read_only=True)
    tool_call_id = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()
    finish_reason = serializers.SerializerMethodField()
    parent_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The message this one follows in the tree; null for a first message and "
        "for tool-call and tool-result messages.",
    )
    sibling_index = serializers.SerializerMethodField(
        help_text="0-based position among the versions (messages with the same parent), "
        "by creation."
    )
    sibling_count = serializers.SerializerMethodField(
        help_text="How many versions there are (messages with the same parent)."
    )
    turn_reply_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="For a tool-call or tool-result message: the reply whose turn made it.",
    )
    context_start_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="For a reply: the first message of its history the model saw in full "
        "(null: it saw the whole history).",
    )
    context_summarized = serializers.BooleanField(
        read_only=True,
        help_text="For a reply with a context_start_id: true when a summary of the messages "
        "before it was sent in their place, false when they were not sent.",
    )
    attachments = serializers.SerializerMethodField(
        help_text="The files a user message carries, in the order sent ([] for others)."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "role",
            "content",
            "status",
            "tool_calls",
            "tool_call_id",
            "model",
            "usage",
            "finish_reason",
            "error",
            "client_id",
            "parent_id",
            "sibling_index",
            "sibling_count",
            "turn_reply_id",
            "context_start_id",
            "context_summarized",
            "attachments",
            "created_at",
        ]

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, obj: Message) -> list[dict]:
        return message_attachments_json(obj)

    def get_sibling_index(self, obj: Message) -> int:
        return position_of(obj).index

    def get_sibling_count(self, obj: Message) -> int:
        return position_of(obj).count

    def get_tool_call_id(self, obj: Message) -> str | None:
        return obj.tool_call_id or None

    def get_model(self, obj: Message) -> str | None:
        return obj.model or None

    def get_finish_reason(self, obj: Message) -> str | None:
        return obj.finish_reason or None


class ActivePathSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    active_leaf_id = serializers.UUIDField(allow_null=True)
    messages = MessageOutputSerializer(many=True, help_text="The active path, root first.")


class NoteOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedNote
        fields = ["id", "title", "content", "conversation", "created_at", "updated_at"]


class NoteInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=validation.MAX_TITLE_CHARS)
    content = serializers.CharField(max_length=validation.MAX_NOTE_CHARS, trim_whitespace=False)
    conversation = serializers.UUIDField(required=False, allow_null=True)


class NoteUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=validation.MAX_TITLE_CHARS, required=False)
    content = serializers.CharField(
        max_length=validation.MAX_NOTE_CHARS, required=False, trim_whitespace=False
    )
