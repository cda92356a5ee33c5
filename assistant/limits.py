"""Our own limits, checked before any model call: daily token and image quotas, a send rate.

All answer 429 with code `throttled` (API.md) and a Retry-After. The quotas read the usage
ledger's one DailyUsage row of the user's day (usage.models), never the messages: deleting
or clearing conversations gives nothing back.
"""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from conversations.errors import DomainError
from usage.models import DailyUsage
from usage.services import image_take, usage_day, usage_reserve


class Throttled(DomainError):
    code = "throttled"
    status = 429
    default_detail = "Too many requests; try again later."


def _start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def daily_token_limit(user) -> int:
    """The user's own limit if staff set one in the admin, else DAILY_TOKEN_QUOTA (0 = none)."""
    from accounts.models import UserQuota

    own = UserQuota.objects.filter(user=user).values_list("daily_token_limit", flat=True).first()
    return settings.DAILY_TOKEN_QUOTA if own is None else own


def tokens_used_today(user) -> int:
    """Tokens charged today plus those reserved by the user's running turns."""
    row = (
        DailyUsage.objects.filter(user=user, day=usage_day())
        .values_list("tokens", "reserved_tokens")
        .first()
    )
    return sum(row) if row else 0


def tokens_left_today(user) -> int | None:
    """Tokens the user may still spend today (charged and reserved both count); None when
    the user has no daily limit."""
    limit = daily_token_limit(user)
    if not limit:
        return None
    return max(0, limit - tokens_used_today(user))


def _seconds_to_midnight() -> float:
    midnight = _start_of_today() + timedelta(days=1)
    return (midnight - timezone.localtime()).total_seconds()


def _token_quota_used_up(limit: int) -> Throttled:
    return Throttled(
        f"The daily token quota ({limit} tokens) is used up; it resets at midnight.",
        retry_after=_seconds_to_midnight(),
    )


def quota_check(*, user) -> None:
    """Refuse a model call when the user's tokens today reached their daily quota."""
    limit = daily_token_limit(user)
    if limit and tokens_used_today(user) >= limit:
        raise _token_quota_used_up(limit)


def quota_reserve(*, user, reply_id, tokens: int) -> None:
    """Reserve a turn's estimated tokens, or refuse it when the quota is used up.

    Called inside the turn's start transaction: the reservation is stored with the turn or
    not at all. Charged + reserved counts, so concurrent turns together overshoot the quota
    by one turn's worth at most. The user's own limit is read by the reservation's statement.
    """
    if not usage_reserve(
        user=user, message_id=reply_id, tokens=tokens, limit=settings.DAILY_TOKEN_QUOTA
    ):
        raise _token_quota_used_up(daily_token_limit(user))


def image_quota_take(*, user):
    """Count one image against DAILY_IMAGE_QUOTA (0 = unlimited); the day it counts on.

    Raises Throttled when the day's images are used up.
    """
    limit = settings.DAILY_IMAGE_QUOTA
    day = image_take(user=user, limit=limit)
    if day is None:
        raise Throttled(
            f"The daily image quota ({limit} images) is used up; it resets at midnight.",
            retry_after=_seconds_to_midnight(),
        )
    return day


def rate_check(*, key: str, rate: str | None) -> None:
    """Count one attempt against `rate` (DRF syntax, e.g. 10/hour) for `key`; Throttled past
    the limit. The window opens with the first attempt and lasts the rate's period (keys
    that expire), not aligned to the clock. Sends, sign-ups and password resets use it."""
    if not rate:
        return
    limit, window = ScopedRateThrottle().parse_rate(rate)
    cache_key = f"kaiwa:rate:{key}"
    now = time.time()
    cache.add(cache_key, 0, timeout=window)
    try:
        count = cache.incr(cache_key)  # atomic on Redis: other processes' attempts count
    except ValueError:  # the window closed between add and incr
        count = 1
        cache.set(cache_key, count, timeout=window)
    if count == 1:  # the window opens: remember when, for Retry-After
        cache.set(f"{cache_key}:opened", now, timeout=window)
    if count > limit:
        opened = cache.get(f"{cache_key}:opened", now)
        raise Throttled(retry_after=max(1.0, opened + window - now))


def send_rate_check(*, user, scope: str = "chat") -> None:
    """Count one send against the user's rate for `scope`; Throttled past the limit.

    The one counter behind every way of sending: the REST and SSE views through
    SendThrottle, the WebSocket directly.
    """
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(scope)
    rate_check(key=f"{scope}:{user.pk}", rate=rate)


class SendThrottle(BaseThrottle):
    """DRF's throttle for the views that send (their `throttle_scope`), per user, unsafe
    methods only (reading is never limited), on send_rate_check's counter."""

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        try:
            send_rate_check(user=request.user, scope=view.throttle_scope)
        except Throttled as exc:
            self.retry_after = exc.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)
