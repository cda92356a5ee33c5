"""System checks of who gets in (tag "kaiwa", so the server refuses to start on an error)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from assistant.checks import TAG

SIGNUP_MODES = ("open", "invite", "closed")


@register(TAG)
def check_signup(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """SIGNUP_MODE known; INVITE_TTL_DAYS positive."""
    messages: list[CheckMessage] = []
    mode = getattr(settings, "SIGNUP_MODE", "open")
    if mode not in SIGNUP_MODES:
        messages.append(
            Error(
                f"SIGNUP_MODE={mode!r} is not a known sign-up mode.",
                hint="Use open (anyone), invite (staff-made invitation links) or closed.",
                id="accounts.E001",
            )
        )
    ttl = getattr(settings, "INVITE_TTL_DAYS", 7)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        messages.append(
            Error(
                f"INVITE_TTL_DAYS must be a whole number of days, 1 or more, not {ttl!r}.",
                id="accounts.E002",
            )
        )
    return messages
