"""The ledger's services on the real database: concurrent first writes of a day, the day in
TIME_ZONE, reservations released once. Run also on PostgreSQL (DATABASE_URL)."""

import threading
from datetime import UTC, date, datetime

import pytest
from django.db import close_old_connections
from django.utils import timezone

from assistant.limits import Throttled, quota_check, tokens_used_today
from usage.models import DailyUsage, TurnReservation, UsageRecord
from usage.services import usage_record, usage_release, usage_reserve

pytestmark = pytest.mark.django_db(transaction=True)


def _in_threads(count: int, work) -> list[BaseException]:
    """Run `work(i)` in `count` threads released together; the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            work(i)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_concurrent_first_calls_of_a_day_neither_fail_nor_lose_counts(user):
    def charge(i: int) -> None:
        usage_record(
            user=user, kind="chat", model="gpt-test", prompt_tokens=10, completion_tokens=i
        )

    assert _in_threads(8, charge) == []

    record = UsageRecord.objects.get(user=user)
    assert (record.calls, record.prompt_tokens, record.completion_tokens) == (8, 80, sum(range(8)))
    assert record.estimated_tokens == 0
    assert DailyUsage.objects.get(user=user).tokens == 80 + sum(range(8))


def test_concurrent_reservations_see_each_other(user):
    outcomes: list[bool] = []

    def reserve(i: int) -> None:
        import uuid

        outcomes.append(usage_reserve(user=user, message_id=uuid.uuid4(), tokens=300, limit=1000))

    assert _in_threads(8, reserve) == []
    # 0, 300, 600, 900 are below 1000: four starts, whatever the interleaving.
    assert sorted(outcomes) == [False] * 4 + [True] * 4
    assert DailyUsage.objects.get(user=user).reserved_tokens == 1200


def test_the_day_is_todays_date_in_time_zone(user, settings, monkeypatch):
    settings.TIME_ZONE = "Asia/Tokyo"
    # 15:30 UTC on 1 December is 00:30 on 2 December in Tokyo.
    instant = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: instant)

    usage_record(user=user, kind="chat", model="gpt-test", prompt_tokens=5, completion_tokens=5)

    assert UsageRecord.objects.get(user=user).day == date(2026, 12, 2)
    assert DailyUsage.objects.get(user=user).day == date(2026, 12, 2)


def test_the_quota_resets_at_midnight_in_time_zone(user, settings, monkeypatch):
    settings.TIME_ZONE = "Asia/Tokyo"
    settings.DAILY_TOKEN_QUOTA = 100
    monkeypatch.setattr(
        timezone, "now", lambda: datetime(2026, 12, 1, 14, 50, tzinfo=UTC)
    )  # 23:50 in Tokyo
    usage_record(user=user, kind="chat", model="gpt-test", prompt_tokens=100)
    with pytest.raises(Throttled) as refused:
        quota_check(user=user)
    assert 590 <= refused.value.retry_after <= 600  # ten minutes to Tokyo's midnight
    monkeypatch.setattr(
        timezone, "now", lambda: datetime(2026, 12, 1, 15, 1, tzinfo=UTC)
    )  # 00:01 in Tokyo, still 1 December in UTC
    assert tokens_used_today(user) == 0
    quota_check(user=user)


def test_a_reservation_is_released_once_on_the_day_it_was_made(user, monkeypatch):
    import uuid

    reply_id = uuid.uuid4()
    assert usage_reserve(user=user, message_id=reply_id, tokens=500, limit=0)
    made_on = TurnReservation.objects.get(message_id=reply_id).day
    later = timezone.now() + timezone.timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: later)  # the turn ends after midnight

    assert usage_release(message_id=reply_id) == 500
    assert usage_release(message_id=reply_id) == 0  # a second settle changes nothing

    assert DailyUsage.objects.get(user=user, day=made_on).reserved_tokens == 0
    assert not TurnReservation.objects.exists()


def test_a_reservation_follows_the_users_own_limit_and_a_refusal_writes_nothing(user):
    import uuid

    from accounts.models import UserQuota

    quota = UserQuota.objects.create(user=user, daily_token_limit=500)
    # The user's own limit wins over the default (here 0, unlimited).
    assert usage_reserve(user=user, message_id=uuid.uuid4(), tokens=300, limit=0)
    assert usage_reserve(user=user, message_id=uuid.uuid4(), tokens=300, limit=0)
    assert not usage_reserve(user=user, message_id=uuid.uuid4(), tokens=300, limit=0)
    assert DailyUsage.objects.get(user=user).reserved_tokens == 600
    assert TurnReservation.objects.count() == 2

    quota.daily_token_limit = 0  # unlimited for this user, whatever the default
    quota.save()
    assert usage_reserve(user=user, message_id=uuid.uuid4(), tokens=300, limit=100)
    quota.delete()  # the default again
    assert not usage_reserve(user=user, message_id=uuid.uuid4(), tokens=300, limit=100)
    assert DailyUsage.objects.get(user=user).reserved_tokens == 900


def test_concurrent_releases_give_a_reservation_back_once(user):
    import uuid

    reply_id = uuid.uuid4()
    assert usage_reserve(user=user, message_id=reply_id, tokens=500, limit=0)
    assert usage_reserve(user=user, message_id=uuid.uuid4(), tokens=200, limit=0)
    released: list[int] = []

    assert _in_threads(6, lambda i: released.append(usage_release(message_id=reply_id))) == []
    assert sorted(released) == [0] * 5 + [500]
    assert DailyUsage.objects.get(user=user).reserved_tokens == 200  # the other turn's share
