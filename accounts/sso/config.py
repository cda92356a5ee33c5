"""Single sign-on settings, read once per use from Django settings (OIDC_*, SSO_*)."""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

WELL_KNOWN = "/.well-known/openid-configuration"
# Microsoft's multi-tenant authorities: their discovery document names the issuer
# `https://login.microsoftonline.com/{tenantid}/v2.0`, a template, not one issuer.
ENTRA_MULTI_TENANT = ("common", "organizations", "consumers")
ENTRA_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
)


@dataclass(frozen=True)
class SsoConfig:
    issuer: str
    client_id: str
    client_secret: str
    provider_name: str
    scopes: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    allowed_tenants: tuple[str, ...]

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + WELL_KNOWN

    @property
    def has_allow_list(self) -> bool:
        return bool(self.allowed_domains or self.allowed_tenants)


def sso_config() -> SsoConfig | None:
    """The provider's settings, or None when single sign-on is off (no OIDC_ISSUER)."""
    issuer = settings.OIDC_ISSUER
    if not issuer:
        return None
    return SsoConfig(
        issuer=issuer,
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        provider_name=settings.OIDC_PROVIDER_NAME,
        scopes=tuple(settings.OIDC_SCOPES),
        allowed_domains=tuple(settings.OIDC_ALLOWED_DOMAINS),
        allowed_tenants=tuple(settings.OIDC_ALLOWED_TENANTS),
    )


def issuer_problem(issuer: str) -> str | None:
    """Why `issuer` is not an OpenID Connect issuer URL, or None.

    https only (the ID token's keys come from it); plain http only to this machine, for a
    provider run beside Kaiwa in development.
    """
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "needs https:// and a host"
    if parts.username is not None or parts.query or parts.fragment:
        return "must be a plain URL (no user, query or fragment)"
    if WELL_KNOWN in parts.path:
        return f"is the issuer itself, without {WELL_KNOWN} (Kaiwa adds it)"
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not one)
    except ValueError:
        return "has an invalid port"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must use https:// (http:// only for localhost)"
    return None


def is_entra_multi_tenant(issuer: str) -> bool:
    """True for Microsoft's /common, /organizations and /consumers authorities."""
    parts = urlsplit(issuer)
    first = parts.path.strip("/").split("/")[0] if parts.path.strip("/") else ""
    return parts.hostname in ENTRA_HOSTS and first.lower() in ENTRA_MULTI_TENANT


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
