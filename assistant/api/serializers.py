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
from conversations.validation import InvalidText, validate_message_text


def attachments_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.UUIDField(), required=False, allow_empty=True, help_text=help_text
    )


def require_text_or_attachments(
    serializer: serializers.Serializer, attrs: dict, *, field: str, carries_attachments: bool
) -> None:
    """A message needs text unless it carries attachments: refused, without them, with the
    field error an empty field always had (DRF's own for "", the rule's for whitespace)."""
    if carries_attachments:
        return
    value = attrs.get(field, "")
    if value == "":
        raise serializers.ValidationError(
            {field: [serializer.fields[field].error_messages["blank"]]}
        )
    try:
        validate_message_text(value)
    except InvalidText as exc:
        raise serializers.ValidationError({field: [exc.field_message]}) from None


EMPTY_WITH_ATTACHMENTS_HELP = "May be empty when the message carries attachments."

SEND_ATTACHMENTS_HELP = (
    "Ids of attachments uploaded to this conversation (POST /api/conversations/{id}/"
    "attachments/) that the message carries, in order."
)


class ChatInputSerializer(serializers.Serializer):
    message = MessageTextField(may_be_empty=True, help_text=EMPTY_WITH_ATTACHMENTS_HELP)
    system_prompt = SystemPromptField(required=False)
    temperature = TemperatureField(required=False)
    max_tokens = MaxTokensField(required=False)
    model = AllowedModelField(required=False)
    conversation_id = serializers.UUIDField(required=False)
    client_id = serializers.UUIDField(required=False)
    attachments = attachments_field(SEND_ATTACHMENTS_HELP + " Needs conversation_id.")

    def validate(self, attrs):
        carries = bool(attrs.get("attachments"))
        require_text_or_attachments(self, attrs, field="message", carries_attachments=carries)
        return attrs


class ChatOutputSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message_id = serializers.UUIDField()
    message = serializers.CharField()
    model = serializers.CharField()
    usage = UsageSerializer(allow_null=True)


class SendInputSerializer(serializers.Serializer):
    content = MessageTextField(may_be_empty=True, help_text=EMPTY_WITH_ATTACHMENTS_HELP)
    client_id = serializers.UUIDField(required=False)
    attachments = attachments_field(SEND_ATTACHMENTS_HELP)

    def validate(self, attrs):
        carries = bool(attrs.get("attachments"))
        require_text_or_attachments(self, attrs, field="content", carries_attachments=carries)
        return attrs


class EditInputSerializer(serializers.Serializer):
    """Context `edited_attachment_count`: how many attachments the edited message carries
    (the new version keeps them when `attachments` is left out)."""

    content = MessageTextField(
        may_be_empty=True,
        help_text="The new version of the user message. " + EMPTY_WITH_ATTACHMENTS_HELP,
    )
    client_id = serializers.UUIDField(required=False)
    attachments = attachments_field(
        "The new version's attachments (ids, as for a send); left out, it keeps those of "
        "the edited message."
    )

    def validate(self, attrs):
        if "attachments" in attrs:
            carries = bool(attrs["attachments"])
        else:
            carries = self.context.get("edited_attachment_count", 0) > 0
        require_text_or_attachments(self, attrs, field="content", carries_attachments=carries)
        return attrs


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
