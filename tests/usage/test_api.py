"""GET /api/usage/: the caller's own spending, today against the limits and 30 days of rows."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import UserQuota
from tests.usage.factories import DailyUsageFactory, UsageRecordFactory

pytestmark = pytest.mark.django_db

URL = "/api/usage/"


def _days_ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


def test_shape_and_numbers(api_client, user, settings):
    settings.DAILY_TOKEN_QUOTA = 10_000
    settings.DAILY_IMAGE_QUOTA = 5
    DailyUsageFactory(user=user, tokens=1_200, reserved_tokens=300, images=2)
    UsageRecordFactory(
        user=user, model="gpt-a", kind="chat", prompt_tokens=700, completion_tokens=400, calls=3
    )
    UsageRecordFactory(
        user=user, model="gpt-a", kind="search", prompt_tokens=90, completion_tokens=10, calls=1
    )
    UsageRecordFactory(
        user=user, day=_days_ago(3), model="gpt-b", kind="analyze", prompt_tokens=5, calls=1
    )

    response = api_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["today"] == {
        "tokens": 1_200,
        "limit": 10_000,
        # Reservations of turns still running count against what remains.
        "remaining": 10_000 - 1_200 - 300,
        "images": 2,
        "image_limit": 5,
    }
    today = timezone.localdate().isoformat()
    assert body["days"] == [
        {
            "date": today,
            "model": "gpt-a",
            "kind": "chat",
            "prompt_tokens": 700,
            "completion_tokens": 400,
            "calls": 3,
        },
        {
            "date": today,
            "model": "gpt-a",
            "kind": "search",
            "prompt_tokens": 90,
            "completion_tokens": 10,
            "calls": 1,
        },
        {
            "date": _days_ago(3).isoformat(),
            "model": "gpt-b",
            "kind": "analyze",
            "prompt_tokens": 5,
            "completion_tokens": 50,
            "calls": 1,
        },
    ]


def test_a_user_without_use_today_gets_zeros(api_client, settings):
    settings.DAILY_TOKEN_QUOTA = 1_000
    settings.DAILY_IMAGE_QUOTA = 3
    body = api_client.get(URL).json()
    assert body == {
        "today": {"tokens": 0, "limit": 1_000, "remaining": 1_000, "images": 0, "image_limit": 3},
        "days": [],
    }


def test_remaining_never_goes_below_zero(api_client, user, settings):
    settings.DAILY_TOKEN_QUOTA = 1_000
    DailyUsageFactory(user=user, tokens=900, reserved_tokens=400)
    assert api_client.get(URL).json()["today"]["remaining"] == 0


def test_unlimited_is_null(api_client, user, settings):
    settings.DAILY_TOKEN_QUOTA = 0
    settings.DAILY_IMAGE_QUOTA = 0
    DailyUsageFactory(user=user, tokens=123, images=4)
    today = api_client.get(URL).json()["today"]
    assert today == {
        "tokens": 123,
        "limit": None,
        "remaining": None,
        "images": 4,
        "image_limit": None,
    }


def test_the_users_own_limit_wins_over_the_default(api_client, user, settings):
    settings.DAILY_TOKEN_QUOTA = 1_000
    UserQuota.objects.create(user=user, daily_token_limit=50_000)
    DailyUsageFactory(user=user, tokens=10)
    today = api_client.get(URL).json()["today"]
    assert (today["limit"], today["remaining"]) == (50_000, 49_990)


def test_other_users_rows_are_never_included(api_client, user, other_user, settings):
    settings.DAILY_TOKEN_QUOTA = 1_000
    DailyUsageFactory(user=other_user, tokens=777, reserved_tokens=11, images=9)
    UsageRecordFactory(user=other_user, model="mallory-model")
    UsageRecordFactory(user=None, model="deleted-user-model")
    UsageRecordFactory(user=user, model="alice-model")

    body = api_client.get(URL).json()

    assert body["today"]["tokens"] == 0 and body["today"]["images"] == 0
    assert body["today"]["remaining"] == 1_000
    assert [row["model"] for row in body["days"]] == ["alice-model"]


def test_the_window_is_the_last_30_days_today_included(api_client, user):
    for n in (0, 1, 29, 30, 45):
        UsageRecordFactory(user=user, day=_days_ago(n), model=f"m{n}")
    dates = [row["date"] for row in api_client.get(URL).json()["days"]]
    assert dates == [_days_ago(n).isoformat() for n in (0, 1, 29)]


def test_today_is_the_day_in_time_zone(api_client, user, settings, monkeypatch):
    settings.TIME_ZONE = "Asia/Tokyo"
    # 16:00 UTC on 1 December is already 01:00 on 2 December in Tokyo.
    instant = datetime.datetime(2026, 12, 1, 16, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: instant)
    DailyUsageFactory(user=user, day=datetime.date(2026, 12, 1), tokens=500)
    DailyUsageFactory(user=user, day=datetime.date(2026, 12, 2), tokens=7)
    UsageRecordFactory(user=user, day=datetime.date(2026, 11, 3), model="first-day")
    UsageRecordFactory(user=user, day=datetime.date(2026, 11, 2), model="too-old")
    body = api_client.get(URL).json()
    assert body["today"]["tokens"] == 7
    assert [row["model"] for row in body["days"]] == ["first-day"]


def test_session_login_works_too(client, user):
    DailyUsageFactory(user=user, tokens=42)
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200 and response.json()["today"]["tokens"] == 42


def test_without_credentials_401(user):
    DailyUsageFactory(user=user, tokens=42)
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "42" not in response.content.decode()


def test_the_schema_describes_the_endpoint():
    from tests.security.endpoints import api_schema

    operation = api_schema()["paths"]["/api/usage/"]["get"]
    assert operation["tags"] == ["usage"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = api_schema()["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == {"today", "days"}
    today_ref = component["properties"]["today"]["$ref"]
    today = api_schema()["components"]["schemas"][today_ref.rsplit("/", 1)[1]]
    assert set(today["properties"]) == {"tokens", "limit", "remaining", "images", "image_limit"}
    assert today["properties"]["limit"]["nullable"] is True
