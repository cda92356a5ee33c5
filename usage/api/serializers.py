"""The output shape of GET /api/usage/."""

from rest_framework import serializers

from usage.models import UsageRecord


class TodayUsageSerializer(serializers.Serializer):
    tokens = serializers.IntegerField(help_text="Tokens charged today (TIME_ZONE).")
    limit = serializers.IntegerField(
        allow_null=True, help_text="The daily token limit; null when unlimited."
    )
    remaining = serializers.IntegerField(
        allow_null=True,
        help_text="limit − tokens − tokens reserved by turns still running, at least 0; "
        "null when unlimited.",
    )
    images = serializers.IntegerField(help_text="Images generated today.")
    image_limit = serializers.IntegerField(
        allow_null=True, help_text="The daily image limit; null when unlimited."
    )


class UsageDaySerializer(serializers.ModelSerializer):
    date = serializers.DateField(source="day")

    class Meta:
        model = UsageRecord
        fields = ["date", "model", "kind", "prompt_tokens", "completion_tokens", "calls"]


class UsageOutputSerializer(serializers.Serializer):
    today = TodayUsageSerializer()
    days = UsageDaySerializer(
        many=True, help_text="The last 30 days' rows (today included), newest day first."
    )
