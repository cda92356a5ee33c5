"""Sign-up invitations: made by staff, used once, within INVITE_TTL_DAYS.

The token travels only in the link; the database keeps its SHA-256 digest, so a copy of the
database cannot be turned into working invitations.
"""

import enum
import hashlib
import secrets
from collections.abc import Callable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import Invite


class InviteProblem(enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


class InviteUnusable(Exception):
    """The invitation cannot be used; `problem` says why."""

    def __init__(self, problem: InviteProblem) -> None:
        self.problem = problem
        super().__init__(problem.value)


def invite_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_token_new() -> tuple[str, str]:
    """A fresh unguessable token and the digest to store for it."""
    token = secrets.token_urlsafe(32)
    return token, invite_digest(token)


def invite_get_usable(*, token: str) -> Invite:
    """The invitation for `token` if it can still be used, else InviteUnusable."""
    invite = Invite.objects.filter(token_digest=invite_digest(token)).first() if token else None
    if invite is None:
        raise InviteUnusable(InviteProblem.UNKNOWN)
    if invite.used_at is not None:
        raise InviteUnusable(InviteProblem.USED)
    if invite.expires_at <= timezone.now():
        raise InviteUnusable(InviteProblem.EXPIRED)
    return invite


def signup_with_invite(
    *, token: str, create_user: Callable[[], AbstractBaseUser]
) -> AbstractBaseUser:
    """Claim the invitation and create the user in one transaction; only one claim wins.

    The conditional UPDATE is the claim: of two concurrent sign-ups with one invitation, the
    second finds no usable row (PostgreSQL re-checks the WHERE after the first commits;
    SQLite runs write transactions one at a time), raises, and keeps nothing.
    """
    invite = invite_get_usable(token=token)
    now = timezone.now()
    with transaction.atomic():
        claimed = Invite.objects.usable(now=now).filter(pk=invite.pk).update(used_at=now)
        if not claimed:
            raise InviteUnusable(InviteProblem.USED)
        user = create_user()
        Invite.objects.filter(pk=invite.pk).update(used_by=user)
    return user
