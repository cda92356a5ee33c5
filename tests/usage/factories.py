"""Rows of the usage ledger, written directly: these tests read the ledger, never fill it."""

import factory
from django.utils import timezone

from tests.factories import UserFactory
from usage.models import DailyUsage, UsageKind, UsageRecord


class UsageRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRecord

    user = factory.SubFactory(UserFactory)
    day = factory.LazyFunction(timezone.localdate)
    model = "gpt-test"
    kind = UsageKind.CHAT
    prompt_tokens = 100
    completion_tokens = 50
    calls = 1


class DailyUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DailyUsage

    user = factory.SubFactory(UserFactory)
    day = factory.LazyFunction(timezone.localdate)
    tokens = 0
    reserved_tokens = 0
    images = 0
