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


def attachments_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.UUIDField(), required=False, allow_empty=True, help_text=help_text
    )


SEND_ATTACHMENTS_HELP = (
    "Ids of attachments uploaded to this conversation (POST /api/conversations/{id}/"
    "attachments/) that the message carries, in order."
)


class ChatInputSerializer(serializers.Serializer):
    message = MessageTextField()
    system_prompt = SystemPromptField(required=False)
    temperature = TemperatureField(required=False)
    max_tokens = MaxTokensField(required=False)
    model = AllowedModelField(required=False)
    conversation_id = serializers.UUIDField(required=False)
    client_id = serializers.UUIDField(required=False)
    attachments = attachments_field(SEND_ATTACHMENTS_HELP + " Needs conversation_id.")


class ChatOutputSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message_id = serializers.UUIDField()
    message = serializers.CharField()
    model = serializers.CharField()
    usage = UsageSerializer(allow_null=True)


class SendInputSerializer(serializers.Serializer):
    content = MessageTextField()
    client_id = serializers.UUIDField(required=False)
    attachments = attachments_field(SEND_ATTACHMENTS_HELP)


class EditInputSerializer(serializers.Serializer):
    content = MessageTextField(help_text="The new version of the user message.")
    client_id = serializers.UUIDField(required=False)
    attachments = attachments_field(
        "The new version's attachments (ids, as for a send); left out, it keeps those of "
        "the edited message."
    )


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
