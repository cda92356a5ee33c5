"""The 429 page for too many attempts: login lock-outs (django-axes), sign-ups, resets."""

import logging
import math

from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from assistant.limits import Throttled

logger = logging.getLogger("kaiwa.accounts")


def too_many_attempts(
    request: HttpRequest, *, message: str, retry_after: float, offer_reset: bool = False
) -> HttpResponse:
    """Our page for HTTP 429, with Retry-After in seconds."""
    seconds = max(1, math.ceil(retry_after))
    minutes = math.ceil(seconds / 60)
    wait = ngettext(
        "Please try again in %(minutes)d minute.",
        "Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    response = render(
        request,
        "registration/too_many_attempts.html",
        {"message": message, "wait": wait, "offer_reset": offer_reset},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def lockout_response(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: a locked-out login (by username or by IP).

    axes calls it as (request, response, credentials) or, from its async middleware,
    (request, credentials); neither is needed here.
    """
    return too_many_attempts(
        request,
        message=_(
            "Too many failed log-ins. Logging in to this account, or from your network, "
            "is paused for a while."
        ),
        retry_after=settings.AXES_COOLOFF_TIME.total_seconds(),
        offer_reset=True,
    )


def throttled_response(request: HttpRequest, exc: Throttled) -> HttpResponse:
    """Sign-up or password-reset attempts beyond their rate."""
    return too_many_attempts(
        request,
        message=_("Too many attempts from your network or for this address."),
        retry_after=exc.retry_after or 60,
    )


@receiver(user_locked_out)
def log_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """One JSON line per locked-out attempt. axes masks its own lines; the username stays
    out of ours too (people type passwords into it); staff see it in the admin (Axes)."""
    logger.warning(
        "login_locked_out",
        extra={
            "ip_address": ip_address,
            "path": getattr(request, "path", ""),
            "cooloff_seconds": int(settings.AXES_COOLOFF_TIME.total_seconds()),
        },
    )
