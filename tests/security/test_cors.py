"""CORS: pages on configured origins may call the token API, /v1/ and /openai/ with a token;
nothing else answers cross-origin, and no answer ever allows credentials (cookies)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts.checks import check_cors_origins

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _allowed_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED, "http://localhost:5173"]


def _preflight(path: str, origin: str, headers: str = "authorization,content-type", client=None):
    return (client or Client()).options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def _cors_headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-")}


TOKEN_ROUTES = [
    "/api/chat/",
    "/api/chat/stream/",
    "/api/conversations/",
    "/api/messages/00000000-0000-0000-0000-000000000000/stream/",
    "/v1/chat/completions",
    "/v1/models",
    "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
]


@pytest.mark.parametrize("path", TOKEN_ROUTES)
def test_preflight_from_an_allowed_origin_is_answered_with_the_allow_headers(path):
    response = _preflight(
        path,
        ALLOWED,
        "authorization,content-type,api-key,last-event-id,x-kaiwa-conversation",
    )
    assert response.status_code == 200
    headers = _cors_headers(response)
    assert headers["access-control-allow-origin"] == ALLOWED
    allowed_headers = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {
        "authorization",
        "content-type",
        "api-key",
        "last-event-id",
        "x-kaiwa-conversation",
    } <= allowed_headers
    assert "POST" in headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in headers


@pytest.mark.parametrize("path", TOKEN_ROUTES)
def test_preflight_from_another_origin_gets_no_cors_headers(path):
    response = _preflight(path, OTHER)
    assert _cors_headers(response) == {}


def test_a_token_call_from_an_allowed_origin_is_readable_and_exposes_our_headers(api_client):
    response = api_client.get("/api/conversations/", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    headers = _cors_headers(response)
    assert headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip().lower() for h in headers["access-control-expose-headers"].split(",")}
    assert exposed == {"retry-after", "x-kaiwa-conversation"}
    assert "access-control-allow-credentials" not in headers
    assert "origin" in response.headers["Vary"].lower()


def test_an_api_error_from_an_allowed_origin_is_readable(api_client):
    """The page's client must read {detail, code} of a refusal, not just a network error."""
    response = api_client.post(
        "/api/chat/", {"message": "   "}, format="json", headers={"Origin": ALLOWED}
    )
    assert response.status_code == 400, response.content
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in response


def test_a_token_call_from_another_origin_gets_no_cors_headers(api_client):
    response = api_client.get("/api/conversations/", headers={"Origin": OTHER})
    assert response.status_code == 200  # the server answers; the browser refuses to read it
    assert _cors_headers(response) == {}


def test_a_session_request_with_cookies_never_gets_credentials_allowed(session_client):
    """A browser sends cookies cross-origin only with credentials: 'include', and reads the
    answer only if it says Access-Control-Allow-Credentials: true, which none ever does."""
    response = session_client.get("/api/conversations/", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Credentials" not in response
    preflight = _preflight("/api/chat/", ALLOWED, "content-type,x-csrftoken")
    assert "access-control-allow-credentials" not in _cors_headers(preflight)
    # The CSRF header is not allowed cross-origin either: a session POST cannot be made.
    allowed = preflight.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "x-csrftoken" not in allowed


SESSION_ONLY_AND_PAGES = [
    "/",
    "/accounts/login/",
    "/accounts/tokens/",
    "/admin/",
    "/admin/login/",
    "/api/tokens/",
    "/api/tokens",
    "/notes/",
    "/healthz",
]


@pytest.mark.parametrize("path", SESSION_ONLY_AND_PAGES)
def test_admin_pages_and_session_only_routes_get_no_cors_headers(path, user):
    client = Client()
    client.force_login(user)
    response = client.get(path, headers={"Origin": ALLOWED})
    assert _cors_headers(response) == {}
    assert _cors_headers(_preflight(path, ALLOWED)) == {}


def test_the_api_docs_page_gets_no_cors_headers():
    # (The page itself fails on OPTIONS in tests: an answer without CORS headers all the same.)
    client = Client(raise_request_exception=False)
    assert _cors_headers(_preflight("/api/docs/", ALLOWED, client=client)) == {}


def test_no_cross_origin_calls_by_default():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.CORS_ALLOWED_ORIGINS, settings.CORS_ALLOW_CREDENTIALS)",
        ],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "CORS_ALLOWED_ORIGINS"},
            "DJANGO_SETTINGS_MODULE": "config.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] False"


@pytest.mark.parametrize(
    "origin",
    [
        "app.example.com",
        "https://app.example.com/",
        "https://app.example.com/chat",
        "https://App.example.com",
        "https://app.example.com:99999",
        "https://user@app.example.com",
        "ftp://app.example.com",
        "null",
        "*",
        "file://",
    ],
)
def test_a_malformed_origin_is_a_check_error_naming_the_setting(settings, origin):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED, origin]
    errors = check_cors_origins()
    assert [e.id for e in errors] == ["accounts.E003"]
    assert "CORS_ALLOWED_ORIGINS" in errors[0].msg
    assert repr(origin) in errors[0].msg


def test_well_formed_origins_pass_the_check(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED, "http://localhost:5173", "http://127.0.0.1:8080"]
    assert check_cors_origins() == []


def test_manage_py_check_fails_on_a_malformed_origin_from_the_environment():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--tag", "kaiwa"],
        cwd=ROOT,
        env={**os.environ, "CORS_ALLOWED_ORIGINS": "https://ok.example.com, app.example.com/"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "accounts.E003" in result.stderr
    assert "CORS_ALLOWED_ORIGINS holds 'app.example.com/'" in result.stderr


def test_the_openai_npm_packages_browser_headers_are_allowed_on_v1():
    """The official `openai` npm package sends its x-stainless-* headers from a browser too;
    the list is the one the pinned package (tests/v1/node) sends."""
    sent = (
        "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,"
        "x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,"
        "x-stainless-runtime-version,x-stainless-timeout"
    )
    response = _preflight("/v1/chat/completions", ALLOWED, sent)
    allowed = {
        h.strip() for h in _cors_headers(response)["access-control-allow-headers"].split(",")
    }
    assert set(sent.split(",")) <= allowed
