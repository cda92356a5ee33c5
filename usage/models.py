"""The usage ledger: what every call that spends the provider's money used, per user and day.

It is kept apart from messages on purpose: deleting or clearing conversations, messages or a
user's other data never changes what was spent. Two tables:

- `UsageRecord`, the ledger itself: one row per user, day (in TIME_ZONE), model and kind,
  summing tokens and calls. Reports and `GET /api/usage/` read it.
- `DailyUsage`, one row per user and day, the quota's counter: tokens charged so far, tokens
  reserved by turns still running, and images generated. A send reads this one row (by its
  unique index) instead of summing messages.

Both are updated in the transaction that records the usage.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UsageKind(models.TextChoices):
    CHAT = "chat", _("chat")
    ANALYZE = "analyze", _("analysis")
    IMAGE = "image", _("image")
    SEARCH = "search", _("search")
    TITLE = "title", _("conversation title")
    SUMMARY = "summary", _("history summary")


class UsageRecord(models.Model):
    """Tokens and calls of one user, day, model and kind (the ledger)."""

    # SET_NULL: a deleted user's spending stays in the operator's report.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
        verbose_name=_("user"),
    )
    day = models.DateField(_("day"))
    model = models.CharField(_("model"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=UsageKind.choices)
    prompt_tokens = models.PositiveBigIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveBigIntegerField(_("completion tokens"), default=0)
    # The part of prompt + completion tokens that is Kaiwa's own estimate, for calls that
    # ended (stopped, failed, interrupted) before the provider reported its figures.
    estimated_tokens = models.PositiveBigIntegerField(_("estimated tokens"), default=0)
    calls = models.PositiveIntegerField(_("calls"), default=0)

    class Meta:
        ordering = ["-day", "model", "kind"]
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day", "model", "kind"], name="usage_record_unique_row"
            ),
        ]
        indexes = [models.Index(fields=["day"], name="usage_record_day")]

    def __str__(self) -> str:
        return f"{self.user} {self.day} {self.model} {self.kind}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class DailyUsage(models.Model):
    """One user's day, as the quotas see it: charged and reserved tokens, images."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="daily_usage",
        verbose_name=_("user"),
    )
    day = models.DateField(_("day"))
    tokens = models.PositiveBigIntegerField(_("tokens"), default=0)
    # Estimates held by turns that started and have not finished: concurrent turns see each
    # other's share, so together they overshoot the quota by one turn at most.
    reserved_tokens = models.PositiveBigIntegerField(_("reserved tokens"), default=0)
    images = models.PositiveIntegerField(_("images"), default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="daily_usage_unique_day"),
            models.CheckConstraint(condition=Q(tokens__gte=0), name="daily_usage_tokens_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.day}"


class TurnReservation(models.Model):
    """The tokens a running turn holds in `DailyUsage.reserved_tokens`, until it settles.

    Kept by reply id (not a foreign key): deleting the conversation mid-turn must not take the
    record with it, or the reservation could never be released. Settling deletes the row,
    so a turn is released once even when the runner and recovery both try.
    """

    message_id = models.UUIDField(_("reply"), unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="turn_reservations",
        verbose_name=_("user"),
    )
    # The DailyUsage row the tokens were added to, whatever the day when the turn ends.
    day = models.DateField(_("day"))
    tokens = models.PositiveBigIntegerField(_("tokens"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("turn reservation")
        verbose_name_plural = _("turn reservations")

    def __str__(self) -> str:
        return f"{self.user} {self.day} {self.tokens}"
