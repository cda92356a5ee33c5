"""Input and output shapes of the CRUD API. No business rules here: services own them."""

from django.conf import settings
from rest_framework import serializers

from conversations import allowed_models
from conversations.models import Conversation, Message, SavedNote


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

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "system_prompt",
            "model",
            "temperature",
            "max_tokens",
            "busy",
            "created_at",
            "updated_at",
        ]

    def get_busy(self, obj: Conversation) -> bool:
        return obj.active_turn_id is not None


class ConversationInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    model = AllowedModelField(required=False)
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)
    max_tokens = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    def validate_system_prompt(self, value: str) -> str:
        limit = settings.KAIWA["MAX_SYSTEM_PROMPT_CHARS"]
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters."
            )
        return value

    def validate_max_tokens(self, value: int | None) -> int | None:
        cap = settings.LLM_MAX_TOKENS_CAP
        if value is not None and value > cap:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {cap}.")
        return value


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


class MessageOutputSerializer(serializers.ModelSerializer):
    usage = UsageSerializer(allow_null=True, read_only=True)
    error = ErrorSerializer(allow_null=True, read_only=True)
    tool_call_id = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()
    finish_reason = serializers.SerializerMethodField()

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
            "created_at",
        ]

    def get_tool_call_id(self, obj: Message) -> str | None:
        return obj.tool_call_id or None

    def get_model(self, obj: Message) -> str | None:
        return obj.model or None

    def get_finish_reason(self, obj: Message) -> str | None:
        return obj.finish_reason or None


class NoteOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedNote
        fields = ["id", "title", "content", "conversation", "created_at", "updated_at"]


class NoteInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    content = serializers.CharField(max_length=100_000, trim_whitespace=False)
    conversation = serializers.UUIDField(required=False, allow_null=True)


class NoteUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    content = serializers.CharField(max_length=100_000, required=False, trim_whitespace=False)
