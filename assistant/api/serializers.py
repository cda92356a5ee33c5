"""Input and output shapes of the chat endpoints."""

from django.conf import settings
from rest_framework import serializers

from conversations.api.serializers import (
    AllowedModelField,
    MessageOutputSerializer,
    UsageSerializer,
)


class MessageTextField(serializers.CharField):
    """A message's text as the API takes it: a string, not blank, at most MAX_MESSAGE_CHARS."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):  # DRF would quietly turn 12 into "12"
            raise serializers.ValidationError("Must be a string.")
        value = super().to_internal_value(data)
        limit = settings.KAIWA["MAX_MESSAGE_CHARS"]
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters."
            )
        return value


class _MaxTokensField(serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(min_value=1, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value > settings.LLM_MAX_TOKENS_CAP:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {settings.LLM_MAX_TOKENS_CAP}."
            )
        return value


class _SystemPromptField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, allow_blank=True, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        limit = settings.KAIWA["MAX_SYSTEM_PROMPT_CHARS"]
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters."
            )
        return value


class ChatInputSerializer(serializers.Serializer):
    message = MessageTextField()
    system_prompt = _SystemPromptField(required=False)
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False)
    max_tokens = _MaxTokensField(required=False)
    model = AllowedModelField(required=False)
    conversation_id = serializers.UUIDField(required=False)
    client_id = serializers.UUIDField(required=False)


class ChatOutputSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message_id = serializers.UUIDField()
    message = serializers.CharField()
    model = serializers.CharField()
    usage = UsageSerializer(allow_null=True)


class SendInputSerializer(serializers.Serializer):
    content = MessageTextField()
    client_id = serializers.UUIDField(required=False)


class TurnOutputSerializer(serializers.Serializer):
    user_message = MessageOutputSerializer()
    assistant_message = MessageOutputSerializer()


class StopOutputSerializer(serializers.Serializer):
    stopped = serializers.BooleanField()
    message = MessageOutputSerializer(allow_null=True)
