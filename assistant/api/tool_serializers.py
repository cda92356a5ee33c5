"""Input and output shapes of the analyze, assistant and images endpoints."""

from django.conf import settings
from rest_framework import serializers

from assistant.api.serializers import MessageTextField
from assistant.images import PROMPT_MAX_CHARS
from assistant.models import GeneratedImage


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


class ImageOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="This service's owner-only file URL.")

    class Meta:
        model = GeneratedImage
        fields = ["id", "prompt", "revised_prompt", "size", "model", "url", "created_at"]

    def get_url(self, image: GeneratedImage) -> str:
        return image.get_file_url()
