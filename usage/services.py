"""Writing the ledger: charging calls, reserving and settling turns, counting images.

Rows are per user and day (timezone.localdate(), i.e. TIME_ZONE). Charges and reservations
are single upserts (INSERT ... ON CONFLICT DO UPDATE adding to the row's counts, on SQLite
and PostgreSQL alike): two first calls of a day can neither fail on the unique constraint
nor overwrite each other's counts. Inside a caller's transaction no savepoint is taken; an
error rolls back the caller's whole transaction.

Callers that store something with the usage (a reply, a tool round, an image) call these
inside their own transaction, so both are written or neither.
"""

import functools
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config import plain_sql
from usage.models import DailyUsage, TurnReservation, UsageKind, UsageRecord


def usage_day() -> date:
    """The day usage counts against: today in TIME_ZONE (the quotas reset at its midnight)."""
    return timezone.localdate()


def _daily_row(*, user_id, day: date):
    """The user's DailyUsage rows of `day` (a queryset of one), created if missing."""
    DailyUsage.objects.bulk_create([DailyUsage(user_id=user_id, day=day)], ignore_conflicts=True)
    return DailyUsage.objects.filter(user_id=user_id, day=day)


@transaction.atomic(savepoint=False)
def usage_record(
    *,
    user: Any,
    kind: UsageKind | str,
    model: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    estimated: bool = False,
    calls: int = 1,
    day: date | None = None,
) -> None:
    """Charge one call (or `calls` calls) to the ledger and to the user's day.

    `estimated`: the tokens are Kaiwa's own estimate (context.estimate_tokens), not the
    provider's figures; they are counted in `estimated_tokens` as well.
    """
    day = day or usage_day()
    model = (model or "")[: UsageRecord._meta.get_field("model").max_length]
    tokens = prompt_tokens + completion_tokens
    estimated_tokens = tokens if estimated else 0
    with connection.cursor() as cursor:
        cursor.execute(
            _record_sql(),
            [
                user.pk,
                day,
                model,
                str(kind),
                prompt_tokens,
                completion_tokens,
                estimated_tokens,
                calls,
            ],
        )
        if tokens:
            cursor.execute(_charge_day_sql(), [user.pk, day, tokens])


@transaction.atomic(savepoint=False)
def usage_reserve(*, user: Any, message_id, tokens: int, limit: int) -> bool:
    """Hold `tokens` of today for the turn of reply `message_id`; False when over the limit.

    The limit is the user's own (accounts.UserQuota) when staff set one, else `limit`; 0
    means unlimited (the tokens are still reserved, for the day's picture).

    One upsert reads the limit, compares charged + reserved with it and adds the
    reservation: PostgreSQL locks the day's row for the statement's conflict update (a
    concurrent start waits, then sees the committed reservation), and on SQLite the
    IMMEDIATE transaction holds the database's write lock. So concurrent starts see each
    other's reservations, and a first start of the day creates the row in the same
    statement. No row comes back when the limit is reached, and nothing is written.
    """
    day = usage_day()
    with connection.cursor() as cursor:
        cursor.execute(_reserve_sql(), [user.pk, day, tokens, user.pk, limit])
        if cursor.fetchone() is None:
            return False
    # TurnReservation.objects.create, as plain SQL: on every turn's start (config.plain_sql).
    plain_sql.insert(
        [TurnReservation(message_id=message_id, user_id=user.pk, day=day, tokens=tokens)]
    )
    return True


@functools.cache
def _reserve_sql() -> str:
    from accounts.models import UserQuota

    daily = DailyUsage._meta.db_table
    quota = UserQuota._meta.db_table
    # The WHERE of DO UPDATE sees the row as it is now (after any concurrent start that
    # committed first); the inserted row of a new day starts from zero and always fits. A
    # limit of 0 is NULL after NULLIF, the comparison NULL, and COALESCE lets the start in.
    return (
        f"INSERT INTO {daily} (user_id, day, tokens, reserved_tokens, images) "  # noqa: S608  # nosec B608: table names only
        "VALUES (%s, %s, 0, %s, 0) "
        "ON CONFLICT (user_id, day) DO UPDATE "
        f"SET reserved_tokens = {daily}.reserved_tokens + excluded.reserved_tokens "
        f"WHERE COALESCE({daily}.tokens + {daily}.reserved_tokens < NULLIF(COALESCE("
        f"(SELECT daily_token_limit FROM {quota} WHERE user_id = %s), %s), 0), TRUE) "
        "RETURNING id"
    )


@transaction.atomic(savepoint=False)
def usage_release(*, message_id) -> int:
    """Give back the reservation of reply `message_id` (to the day it was made on).

    Idempotent: the reservation row is deleted by whoever releases first (the DELETE
    returns it to that caller only), and only that caller takes the tokens off the day.
    Returns the tokens released (0 if none were held).
    """
    message_id = _RESERVATION_REPLY.get_db_prep_value(message_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_release_sql(), [message_id])
        released = cursor.fetchone()
        if released is None:
            return 0
        user_id, day, tokens = released
        # Never below zero. Plain SQL: on every turn's finish, where the ORM's UPDATE cost
        # several times the statement.
        cursor.execute(_unreserve_sql(), [tokens, tokens, user_id, day])
    return tokens


_RESERVATION_REPLY = TurnReservation._meta.get_field("message_id")


# The statements below format in only the models' own table names; every value is a parameter.


@functools.cache
def _record_sql() -> str:
    table = UsageRecord._meta.db_table
    return (
        f"INSERT INTO {table} (user_id, day, model, kind, prompt_tokens, "  # noqa: S608  # nosec B608: table names only
        "completion_tokens, estimated_tokens, calls) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (user_id, day, model, kind) DO UPDATE SET "
        f"prompt_tokens = {table}.prompt_tokens + excluded.prompt_tokens, "
        f"completion_tokens = {table}.completion_tokens + excluded.completion_tokens, "
        f"estimated_tokens = {table}.estimated_tokens + excluded.estimated_tokens, "
        f"calls = {table}.calls + excluded.calls"
    )


@functools.cache
def _charge_day_sql() -> str:
    daily = DailyUsage._meta.db_table
    return (
        f"INSERT INTO {daily} (user_id, day, tokens, reserved_tokens, images) "  # noqa: S608  # nosec B608: table names only
        "VALUES (%s, %s, %s, 0, 0) "
        f"ON CONFLICT (user_id, day) DO UPDATE SET tokens = {daily}.tokens + excluded.tokens"
    )


@functools.cache
def _unreserve_sql() -> str:
    daily = DailyUsage._meta.db_table
    return (
        f"UPDATE {daily} SET reserved_tokens = CASE WHEN reserved_tokens > %s "  # noqa: S608  # nosec B608: a table name
        "THEN reserved_tokens - %s ELSE 0 END WHERE user_id = %s AND day = %s"
    )


@functools.cache
def _release_sql() -> str:
    table = TurnReservation._meta.db_table
    return f"DELETE FROM {table} WHERE message_id = %s RETURNING user_id, day, tokens"  # noqa: S608  # nosec B608: a table name


@transaction.atomic(savepoint=False)
def image_take(*, user: Any, limit: int) -> date | None:
    """Count one image for today unless `limit` (0 = none) is reached; the day, or None.

    The count is taken before the provider is asked, in one conditional UPDATE, so
    concurrent requests cannot together pass the limit; `image_give_back` returns it when
    no image was made.
    """
    day = usage_day()
    rows = _daily_row(user_id=user.pk, day=day)
    if limit:
        rows = rows.filter(images__lt=limit)
    return day if rows.update(images=F("images") + 1) else None


def image_give_back(*, user: Any, day: date) -> None:
    """Undo `image_take` for an image the provider did not make."""
    DailyUsage.objects.filter(user_id=user.pk, day=day, images__gt=0).update(images=F("images") - 1)
