"""Production refuses a guessable SECRET_KEY and DEBUG on, naming the variable, never the key."""

import json
import re
import secrets

import pytest

from tests.config.test_settings import ROOT, _settings_in_subprocess


def _production(**env: str) -> dict[str, str]:
    return {
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "kaiwa.example",
        "DEBUG": "",
        **env,
    }


def _placeholder() -> str:
    """SECRET_KEY's value in .env.example, as a copied file would still hold it."""
    text = (ROOT / ".env.example").read_text()
    return re.search(r"^SECRET_KEY=(.+)$", text, flags=re.MULTILINE).group(1).strip()


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        pytest.param(_placeholder(), "is the placeholder from .env.example", id="placeholder"),
        pytest.param(
            "django-insecure-" + secrets.token_urlsafe(64),
            "starts with 'django-insecure-'",
            id="django-insecure",
        ),
        pytest.param(secrets.token_urlsafe(36), "is shorter than 50 characters", id="short-48"),
    ],
)
def test_production_refuses_a_weak_secret_key(key, problem):
    result = _settings_in_subprocess(_production(SECRET_KEY=key), "settings.DEBUG")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"SECRET_KEY {problem}" in result.stderr
    assert key not in result.stderr  # the key itself is never printed


def test_production_accepts_a_long_random_key_of_exactly_50_characters():
    key = secrets.token_urlsafe(64)[:50]
    result = _settings_in_subprocess(_production(SECRET_KEY=key), "len(settings.SECRET_KEY)")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == 50


def test_development_keeps_its_default_key():
    result = _settings_in_subprocess({}, "[settings.SECRET_KEY, settings.DEBUG]")
    assert result.returncode == 0, result.stderr
    key, debug = json.loads(result.stdout)
    assert key.startswith("django-insecure-") and debug is True


@pytest.mark.parametrize("value", ["true", "1", "on"])
def test_production_refuses_debug_on(value):
    result = _settings_in_subprocess(_production(DEBUG=value), "settings.DEBUG")
    assert result.returncode != 0
    assert "DEBUG must be false (or unset) when ENVIRONMENT=production" in result.stderr


def test_production_accepts_debug_false():
    result = _settings_in_subprocess(_production(DEBUG="false"), "settings.DEBUG")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is False


def test_the_image_build_uses_a_throwaway_random_key():
    build = (ROOT / "Dockerfile").read_text().split("collectstatic", 1)[0]
    assert "secrets.token_urlsafe(64)" in build.rsplit("RUN ", 1)[1]
