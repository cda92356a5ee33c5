"""Input and output shapes of the chat endpoints."""

from rest_framework import serializers

from conversations.api.serializers import (
    AllowedModelField,
    MaxTokensField,
    MessageOutputSerializer,
    MessageTextField,
    SystemPromptField,
    TemperatureField,
    UsageSerializer,
)


class ChatInputSerializer(serializers.Serializer):
    message = MessageTextField()
    system_prompt = SystemPromptField(required=False)
    temperature = TemperatureField(required=False)
    max_tokens = MaxTokensField(required=False)
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


class EditInputSerializer(serializers.Serializer):
    content = MessageTextField(help_text="The new version of the user message.")
    client_id = serializers.UUIDField(required=False)


class RegenerateInputSerializer(serializers.Serializer):
    model = AllowedModelField(required=False)
    temperature = TemperatureField(required=False)
    client_id = serializers.UUIDField(required=False)


class RegenerateOutputSerializer(serializers.Serializer):
    assistant_message = MessageOutputSerializer()


class TurnOutputSerializer(serializers.Serializer):
    user_message = MessageOutputSerializer()
    assistant_message = MessageOutputSerializer()


class StopOutputSerializer(serializers.Serializer):
    stopped = serializers.BooleanField()
    message = MessageOutputSerializer(allow_null=True)
