"""Personal API tokens. Only a SHA-512 digest is stored (django-rest-knox)."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
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


def invite_default_expiry():
    """Now plus INVITE_TTL_DAYS: the expiry a new invitation gets unless staff change it."""
    return timezone.now() + timedelta(days=settings.INVITE_TTL_DAYS)


class InviteQuerySet(models.QuerySet):
    def usable(self, *, now=None):
        """Invitations that can still be used: not used and not expired."""
        return self.filter(used_at__isnull=True, expires_at__gt=now or timezone.now())


class Invite(models.Model):
    """A single-use, expiring sign-up invitation (SIGNUP_MODE=invite), made by staff.

    Only a SHA-256 digest of the token is stored; the link is shown once, when it is made.
    """

    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(
        _("note"), max_length=200, blank=True, help_text=_("For whom, or why (staff only).")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="invites_created",
        verbose_name=_("created by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), default=invite_default_expiry)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True, editable=False)
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invite",
        verbose_name=_("used by"),
        editable=False,
    )

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return self.note or f"#{self.pk}"


class SsoIdentity(models.Model):
    """A user's account at the single sign-on provider: the user is found by (issuer,
    subject), never by e-mail, which a provider may let people change."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sso_identities",
        verbose_name=_("user"),
    )
    # The ID token's `iss`: for Microsoft Entra ID it names the tenant.
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    tenant_id = models.CharField(_("tenant"), max_length=64, blank=True)
    email = models.EmailField(_("e-mail address at the provider"), blank=True)
    created_at = models.DateTimeField(_("first sign-in"), auto_now_add=True)
    last_login_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        ordering = ["-last_login_at"]
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.email or self.subject})"
