"""System checks of who gets in, sign-up and cross-origin callers (tag "kaiwa", so the server
refuses to start on an error)."""

from typing import Any
from urllib.parse import urlsplit

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


def _origin_problem(origin: Any) -> str | None:
    """Why `origin` is not an origin a browser sends (scheme://host[:port]), or None."""
    if not isinstance(origin, str):
        return "is not text"
    if origin in ("*", "null") or origin.startswith("file:"):
        # "null" is what sandboxed frames and data: URLs send: allowing it allows any page.
        return "is not allowed (name each origin: scheme://host[:port])"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "needs http:// or https:// and a host"
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not one)
    except ValueError:
        return "has an invalid port"
    if parts.username is not None or parts.path or parts.query or parts.fragment or "#" in origin:
        return "must be only scheme://host[:port] (no path, not even a trailing /)"
    if origin != origin.lower():
        return "must be lowercase, as browsers send it"
    return None


@register(TAG)
def check_cors_origins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every CORS_ALLOWED_ORIGINS entry is an origin as browsers send it (an entry that is not
    would never match, or, like "null", match far more than meant)."""
    origins = getattr(settings, "CORS_ALLOWED_ORIGINS", [])
    if isinstance(origins, str) or not isinstance(origins, list | tuple):
        return [Error("CORS_ALLOWED_ORIGINS must be a list of origins.", id="accounts.E003")]
    messages: list[CheckMessage] = []
    for origin in origins:
        problem = _origin_problem(origin)
        if problem:
            messages.append(
                Error(
                    f"CORS_ALLOWED_ORIGINS holds {origin!r}, which {problem}.",
                    hint="Comma-separated origins such as https://app.example.com,http://localhost:5173",
                    id="accounts.E003",
                )
            )
    return messages


@register(TAG)
def check_sso(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Single sign-on: a usable issuer URL, a client id and secret, `openid` among the
    scopes, a multi-tenant Entra authority limited to tenants or domains, and SSO_ONLY only
    with a provider."""
    from accounts.sso.config import is_entra_multi_tenant, issuer_problem

    issuer = getattr(settings, "OIDC_ISSUER", "")
    if not issuer:
        if getattr(settings, "SSO_ONLY", False):
            return [
                Error(
                    "SSO_ONLY=true needs a single sign-on provider, but OIDC_ISSUER is empty.",
                    hint="Set OIDC_ISSUER and its client id and secret, or unset SSO_ONLY.",
                    id="accounts.E007",
                )
            ]
        return []
    messages: list[CheckMessage] = []
    problem = issuer_problem(issuer)
    if problem:
        messages.append(
            Error(
                f"OIDC_ISSUER={issuer!r} {problem}.",
                hint="The provider's issuer, e.g. https://login.microsoftonline.com/<tenant>/v2.0",
                id="accounts.E004",
            )
        )
    for name in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        if not getattr(settings, name, ""):
            messages.append(
                Error(
                    f"{name} must be set when OIDC_ISSUER is set.",
                    hint="Both come from the application registered at the provider.",
                    id="accounts.E005",
                )
            )
    if "openid" not in getattr(settings, "OIDC_SCOPES", []):
        messages.append(
            Error(
                "OIDC_SCOPES must include openid (without it there is no ID token).",
                hint="The default is: openid email profile",
                id="accounts.E006",
            )
        )
    tenants = getattr(settings, "OIDC_ALLOWED_TENANTS", [])
    domains = getattr(settings, "OIDC_ALLOWED_DOMAINS", [])
    # Domains do not fence a multi-tenant issuer: any tenant's administrator can give a
    # user an address in your domain; only the tenant id is Microsoft's word.
    if not problem and is_entra_multi_tenant(issuer) and not tenants:
        messages.append(
            Error(
                f"OIDC_ISSUER={issuer!r} lets any Microsoft Entra organisation sign in; "
                "set OIDC_ALLOWED_TENANTS (OIDC_ALLOWED_DOMAINS alone is not enough).",
                hint="Or your tenant's own: https://login.microsoftonline.com/<tenant>/v2.0",
                id="accounts.E008",
            )
        )
    for domain in domains:
        if not domain or "@" in domain or "/" in domain or " " in domain:
            messages.append(
                Error(
                    f"OIDC_ALLOWED_DOMAINS holds {domain!r}, which is not an e-mail domain.",
                    hint="Comma-separated domains such as example.com,example.co.jp",
                    id="accounts.E009",
                )
            )
    return messages
