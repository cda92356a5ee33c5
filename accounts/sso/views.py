"""Single sign-on pages: start (to the provider) and callback (back from it)."""

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from django.conf import settings
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET
from joserfc.errors import JoseError

from accounts.sso.client import LEEWAY_SECONDS, id_token_claims_options, oidc_client
from accounts.sso.config import SsoConfig, sso_config
from accounts.sso.services import SsoRefused, sso_sign_in

logger = logging.getLogger("kaiwa.accounts")

_NEXT_SESSION_KEY = "kaiwa_sso_next"
# The session backend the SSO user is logged in with: ModelBackend, which refuses a
# deactivated user on every later request (and accounts.revocation ends their sockets).
_SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _config_or_404() -> SsoConfig:
    config = sso_config()
    if config is None:
        raise Http404
    return config


def _refused(request: HttpRequest, problem: str, status: int = 403) -> HttpResponse:
    return render(
        request,
        "registration/sso_refused.html",
        {"problem": problem, "provider_name": settings.OIDC_PROVIDER_NAME},
        status=status,
    )


@require_GET
def sso_start(request: HttpRequest) -> HttpResponse:
    """To the provider's authorization endpoint. A link, not a form: the site's CSP
    (form-action 'self') would stop a form's redirect to another origin. Starting is
    harmless; what could be forged is the callback, and `state` protects that."""
    config = _config_or_404()
    next_url = request.GET.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        request.session[_NEXT_SESSION_KEY] = next_url
    else:
        request.session.pop(_NEXT_SESSION_KEY, None)
    redirect_uri = request.build_absolute_uri(reverse("sso_callback"))
    try:
        return oidc_client(config).authorize_redirect(request, redirect_uri)
    except (requests.RequestException, ValueError, KeyError):
        logger.warning("sso_provider_unreachable", exc_info=True)
        return _refused(request, "unreachable", status=502)


@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """Back from the provider: the code is exchanged, the ID token verified (by Authlib,
    see accounts.sso.client), and its subject signed in."""
    config = _config_or_404()
    client = oidc_client(config)
    try:
        token = client.authorize_access_token(
            request,
            claims_options=id_token_claims_options(client),
            leeway=LEEWAY_SECONDS,
        )
    except JoseError as exc:
        # Bad signature, unknown key, wrong issuer / audience / nonce, expired…
        logger.warning("sso_invalid_id_token", extra={"error": exc.error})
        return _refused(request, "invalid_token")
    except AuthlibBaseError as exc:
        # A wrong or replayed state, the provider's own refusal (?error=access_denied), or
        # a code the token endpoint would not exchange (wrong PKCE verifier, expired).
        logger.warning("sso_oauth_error", extra={"error": exc.error})
        return _refused(request, "provider_error")
    except (requests.RequestException, ValueError, KeyError):
        logger.warning("sso_provider_unreachable", exc_info=True)
        return _refused(request, "unreachable", status=502)
    claims = token.get("userinfo")
    if not claims:
        # No ID token (a provider not speaking OpenID Connect, or `openid` not granted).
        return _refused(request, "invalid_token")
    try:
        user = sso_sign_in(config=config, claims=dict(claims))
    except SsoRefused as exc:
        return _refused(request, exc.problem.value)
    next_url = request.session.pop(_NEXT_SESSION_KEY, "") or settings.LOGIN_REDIRECT_URL
    login(request, user, backend=_SESSION_BACKEND)
    return redirect(next_url)
