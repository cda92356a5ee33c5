"""Who a verified ID token signs in: the allow-lists, matching by subject, first sign-in.

The claims reaching here have been verified by the OIDC client (signature, issuer,
audience, expiry, nonce); this module decides only whether their owner may come in.
"""

import enum
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import SsoIdentity
from accounts.sso.config import SsoConfig

logger = logging.getLogger("kaiwa.accounts")

_USERNAME_MAX = 150
# First-sign-in inserts tried before giving up when others keep taking the free username.
_CREATE_ATTEMPTS = 3


class SsoProblem(enum.Enum):
    DOMAIN = "domain"  # the e-mail domain is not in OIDC_ALLOWED_DOMAINS
    TENANT = "tenant"  # the tenant is not in OIDC_ALLOWED_TENANTS
    NO_ACCOUNT = "no_account"  # unknown person, and new accounts are not made
    ACCOUNT_EXISTS = "account_exists"  # a password account has this address
    INACTIVE = "inactive"  # the linked account is deactivated


class SsoRefused(Exception):
    """The person may not sign in; `problem` says why."""

    def __init__(self, problem: SsoProblem) -> None:
        self.problem = problem
        super().__init__(problem.value)


def sso_email_domain(claims: dict[str, Any]) -> str | None:
    """The e-mail domain the allow-list judges: of `email`, and only when the provider says
    it is verified, or None.

    Silence is not verification: Entra ID omits `email_verified`, and there an
    administrator of any tenant can give a user any address ("nOAuth"). Its optional
    claim `xms_edov` (the address's domain is verified by the tenant) counts instead.
    `preferred_username` never counts: Microsoft says it is mutable and must not be used
    for authorisation decisions.
    """
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    if claims.get("email_verified") is not True and claims.get("xms_edov") is not True:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def sso_check_allowed(*, config: SsoConfig, claims: dict[str, Any]) -> None:
    """Raise SsoRefused unless the tenant and the e-mail domain are allowed (each list,
    when set, applies to every sign-in, so one who leaves the domain is shut out)."""
    if config.allowed_tenants:
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or tenant.lower() not in config.allowed_tenants:
            raise SsoRefused(SsoProblem.TENANT)
    if config.allowed_domains and sso_email_domain(claims) not in config.allowed_domains:
        raise SsoRefused(SsoProblem.DOMAIN)


def sso_may_create(*, config: SsoConfig) -> bool:
    """New accounts: for whoever passes an allow-list when one is set (the list is the
    admission rule); without one, only when anyone may sign up (SIGNUP_MODE=open)."""
    return config.has_allow_list or settings.SIGNUP_MODE == "open"


def sso_sign_in(*, config: SsoConfig, claims: dict[str, Any]) -> AbstractBaseUser:
    """The user these verified claims sign in, made on first sign-in when allowed."""
    issuer, subject = claims["iss"], str(claims["sub"])
    try:
        sso_check_allowed(config=config, claims=claims)
        identity = (
            SsoIdentity.objects.select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            identity = _identity_create(config=config, claims=claims)
        if not identity.user.is_active:
            raise SsoRefused(SsoProblem.INACTIVE)
    except SsoRefused as exc:
        # The subject and tenant, never the token: enough for staff to find the person.
        logger.warning(
            "sso_refused",
            extra={"reason": exc.problem.value, "issuer": issuer, "subject": subject},
        )
        raise
    SsoIdentity.objects.filter(pk=identity.pk).update(
        last_login_at=timezone.now(), email=_claimed_email(claims)
    )
    return identity.user


def _claimed_email(claims: dict[str, Any]) -> str:
    email = claims.get("email") or claims.get("preferred_username") or ""
    return email if isinstance(email, str) and "@" in email and len(email) <= 254 else ""


def _identity_create(*, config: SsoConfig, claims: dict[str, Any]) -> SsoIdentity:
    if not sso_may_create(config=config):
        raise SsoRefused(SsoProblem.NO_ACCOUNT)
    email = _claimed_email(claims)
    User = get_user_model()
    # Not linked to a password account by address: the address is the provider's word,
    # and a match on it alone would hand that account to whoever the provider says owns it.
    if email and User.objects.filter(email__iexact=email).exists():
        raise SsoRefused(SsoProblem.ACCOUNT_EXISTS)
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        username = _free_username(claims, email)
        try:
            with transaction.atomic():
                user = User(username=username, email=email)
                user.first_name = str(claims.get("given_name") or "")[:150]
                user.last_name = str(claims.get("family_name") or "")[:150]
                user.set_unusable_password()  # signs in through the provider only
                user.save()
                return SsoIdentity.objects.create(
                    user=user,
                    issuer=claims["iss"],
                    subject=str(claims["sub"]),
                    tenant_id=str(claims.get("tid") or "")[:64],
                    email=email,
                )
        except IntegrityError:
            # Either the same person's other tab signed in first and made the account, or
            # someone else's first sign-in took the username between the check and the
            # insert: then try again with a name free now.
            identity = (
                SsoIdentity.objects.select_related("user")
                .filter(issuer=claims["iss"], subject=str(claims["sub"]))
                .first()
            )
            if identity is not None:
                return identity
            if attempt == _CREATE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def _free_username(claims: dict[str, Any], email: str) -> str:
    """The sign-in name or address, made unique with a number when taken."""
    User = get_user_model()
    base = email or str(claims.get("preferred_username") or "") or f"sso-{claims['sub']}"
    base = "".join(c for c in base if c.isalnum() or c in "@.+-_")[: _USERNAME_MAX - 4] or "sso"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name
