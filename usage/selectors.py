"""Reads of the ledger for one user: today against the limits, and the last days' rows.

Only reads. The ledger is written by the services that record usage; nothing here changes it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from usage.models import DailyUsage, UsageRecord

# Today and the 29 days before it.
WINDOW_DAYS = 30


@dataclass(frozen=True)
class TodayUsage:
    """Today's counters (in TIME_ZONE) and what is left; a limit of None means unlimited."""

    tokens: int
    reserved_tokens: int
    limit: int | None
    remaining: int | None
    images: int
    image_limit: int | None
    image_remaining: int | None


@dataclass(frozen=True)
class DayTokens:
    """Tokens charged on one day of the window (0 on days without use)."""

    day: datetime.date
    tokens: int


def usage_window(*, today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The first and last day (both included) of the window that ends today."""
    today = today or timezone.localdate()
    return today - datetime.timedelta(days=WINDOW_DAYS - 1), today


def usage_today(*, user) -> TodayUsage:
    """Today's tokens and images against the user's limits.

    Tokens reserved by turns still running count against what remains, as they do when the
    quota is checked: two turns started at once cannot both spend the last of the day.
    """
    from assistant.limits import daily_token_limit

    row = DailyUsage.objects.filter(user=user, day=timezone.localdate()).first()
    tokens = row.tokens if row else 0
    reserved = row.reserved_tokens if row else 0
    images = row.images if row else 0
    limit = daily_token_limit(user) or None
    image_limit = settings.DAILY_IMAGE_QUOTA or None
    return TodayUsage(
        tokens=tokens,
        reserved_tokens=reserved,
        limit=limit,
        remaining=None if limit is None else max(0, limit - tokens - reserved),
        images=images,
        image_limit=image_limit,
        image_remaining=None if image_limit is None else max(0, image_limit - images),
    )


def usage_records(*, user) -> QuerySet[UsageRecord]:
    """The user's ledger rows of the window, newest day first, then by model and kind."""
    first, last = usage_window()
    return UsageRecord.objects.filter(user=user, day__range=(first, last)).order_by(
        "-day", "model", "kind"
    )


def daily_tokens(*, user) -> list[DayTokens]:
    """Tokens charged on each day of the window, oldest first, one entry for every day."""
    first, last = usage_window()
    charged = dict(
        DailyUsage.objects.filter(user=user, day__range=(first, last)).values_list("day", "tokens")
    )
    days = (first + datetime.timedelta(days=n) for n in range(WINDOW_DAYS))
    return [DayTokens(day=day, tokens=charged.get(day, 0)) for day in days]


def ledger_totals(*, records: QuerySet[UsageRecord]) -> dict[str, int]:
    """Sums over any set of ledger rows (the admin report's filtered rows)."""
    totals = records.order_by().aggregate(
        rows=Count("pk"),
        prompt_tokens=Sum("prompt_tokens", default=0),
        completion_tokens=Sum("completion_tokens", default=0),
        estimated_tokens=Sum("estimated_tokens", default=0),
        calls=Sum("calls", default=0),
    )
    return totals | {"total_tokens": totals["prompt_tokens"] + totals["completion_tokens"]}
