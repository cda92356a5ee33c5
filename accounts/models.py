"""Personal API tokens. Only a SHA-512 digest is stored (django-rest-knox)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """A personal API token; `public_id` names it in the API (the digest never leaves)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        # Never the digest: the admin and logs show only the public prefix.
        return f"{self.token_key}… ({self.name or self.user})"


class UserQuota(models.Model):
    """A per-user override of DAILY_TOKEN_QUOTA, set by staff in the admin."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="quota",
        verbose_name=_("user"),
    )
    daily_token_limit = models.PositiveIntegerField(
        _("daily token limit"),
        help_text=_("Prompt + completion tokens per day; 0 means unlimited."),
    )

    class Meta:
        verbose_name = _("token quota")
        verbose_name_plural = _("token quotas")

    def __str__(self) -> str:
        return f"{self.user}: {self.daily_token_limit}"
