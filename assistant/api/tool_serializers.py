"""Input and output shapes of the analyze, assistant and images endpoints."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assistant.images import PROMPT_MAX_CHARS
from assistant.models import GeneratedImage
from conversations.api.serializers import MessageTextField


class AnalyzeInputSerializer(serializers.Serializer):
    text = MessageTextField()


class AnalyzeOutputSerializer(serializers.Serializer):
    sentiment = serializers.ChoiceField(choices=["positive", "negative", "neutral"])
    intent = serializers.CharField()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    keywords = serializers.ListField(child=serializers.CharField())


class AssistantInputSerializer(serializers.Serializer):
    message = MessageTextField()


class AssistantOutputSerializer(serializers.Serializer):
    function_used = serializers.CharField(
        allow_null=True, help_text="The first tool the model called; null if it only answered."
    )
    arguments = serializers.JSONField(allow_null=True)
    result = serializers.JSONField(allow_null=True)
    response = serializers.CharField(help_text="The model's reply text.")
    conversation_id = serializers.UUIDField(help_text="The conversation the exchange is in.")
    message_id = serializers.UUIDField(help_text="The stored assistant reply.")


class ImageInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=PROMPT_MAX_CHARS)
    size = serializers.CharField(default="1024x1024")

    def validate_size(self, value: str) -> str:
        if value not in settings.IMAGE_SIZES:
            raise serializers.ValidationError(f"Choose one of {', '.join(settings.IMAGE_SIZES)}.")
        return value


class ImageErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ImageOutputSerializer(serializers.ModelSerializer):
    """An image, or its job while it is made (`status`); the context's `usual_seconds` is
    how long the user's images usually take."""

    url = serializers.SerializerMethodField(
        help_text="This service's owner-only file URL; null until the image is complete."
    )
    error = serializers.SerializerMethodField(
        help_text="{code, message} of a failed or interrupted job; else null."
    )
    usual_seconds = serializers.SerializerMethodField(
        help_text="How long this user's images usually take (the median of recent ones), "
        "for a progress indicator; null once the job has ended."
    )

    class Meta:
        model = GeneratedImage
        fields = [
            "id",
            "status",
            "prompt",
            "revised_prompt",
            "size",
            "model",
            "url",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "usual_seconds",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_url(self, image: GeneratedImage) -> str | None:
        return image.get_file_url() if image.status == GeneratedImage.Status.COMPLETE else None

    @extend_schema_field(ImageErrorSerializer(allow_null=True))
    def get_error(self, image: GeneratedImage) -> dict | None:
        if not image.error_code:
            return None
        return {"code": image.error_code, "message": image.error_text}

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_usual_seconds(self, image: GeneratedImage) -> float | None:
        if image.is_finished:
            return None
        return self.context.get("usual_seconds")
