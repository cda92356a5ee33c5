"""Production settings: `check --deploy` is clean, and the headers are what it promises."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLM_", "OPENAI_", "AZURE_", "SEARCH_", "SECURE_", "DATABASE_URL"))
        and k not in ("REDIS_URL", "DEBUG", "USE_X_FORWARDED_PROTO")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENVIRONMENT": "production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "kaiwa.example",
            # A configured provider: the demo backend is never chosen silently in production.
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            **extra,
        }
    )
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production():
    result = _manage(_production_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_production_cookies_are_made_insecure():
    """The control: the check is really looking (and our silencing is not a blanket one)."""
    env = _production_env(SESSION_COOKIE_SECURE="false")
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W012" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {},
            {
                "SECURE_SSL_REDIRECT": True,
                "SECURE_HSTS_SECONDS": 31536000,
                "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
                "SECURE_HSTS_PRELOAD": False,
                "SESSION_COOKIE_SECURE": True,
                "CSRF_COOKIE_SECURE": True,
                "SECURE_PROXY_SSL_HEADER": None,
            },
        ),
        (
            {
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_HSTS_SECONDS": "600",
                "SECURE_HSTS_PRELOAD": "true",
                "USE_X_FORWARDED_PROTO": "true",
            },
            {
                "SECURE_SSL_REDIRECT": False,
                "SECURE_HSTS_SECONDS": 600,
                "SECURE_HSTS_PRELOAD": True,
                "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
            },
        ),
    ],
)
def test_production_security_settings_come_from_the_environment(extra, expected):
    names = list(expected)
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_production_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import json

    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


# --- Headers, in-process (the settings fixture stands in for production values) -------


@pytest.fixture
def production_like(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


@pytest.mark.django_db
def test_plain_http_is_redirected_except_the_probes(production_like):
    client = Client()
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/api/conversations/").status_code == 301
    # A load balancer checks over plain HTTP: no redirect for the probes and the scraper.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz", HTTP_ACCEPT="application/json").status_code == 200
    assert client.get("/metrics").status_code == 200  # loopback, no METRICS_TOKEN


@pytest.mark.django_db
def test_https_pages_carry_the_security_headers(production_like):
    response = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(
        (part.split(" ", 1) + [""])[:2] for part in response["Content-Security-Policy"].split("; ")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no nonce is needed on our own pages
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert policy["img-src"] == "'self' data:"
    assert policy["connect-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["form-action"] == "'self'"


@pytest.mark.django_db
def test_api_docs_come_from_our_own_static_files():
    response = Client().get("/api/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    # The init script is a same-origin file, not inline; the one inline style has the nonce.
    assert '<script src="/api/docs/?script="></script>' in html
    nonce = response["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<style nonce="{nonce}">' in html
    script = Client().get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
