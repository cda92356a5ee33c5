"""Settings come from the environment; production refuses to start half-configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({expr}, default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing):
    env = {"ENVIRONMENT": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "kaiwa.example"}
    env[missing] = ""
    result = _settings_in_subprocess(env, "settings.DEBUG")
    assert result.returncode != 0
    assert f"{missing} must be set when ENVIRONMENT=production" in result.stderr


def test_production_turns_debug_off():
    env = {"ENVIRONMENT": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "kaiwa.example"}
    result = _settings_in_subprocess(env, "[settings.DEBUG, settings.ALLOWED_HOSTS]")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [False, ["kaiwa.example"]]


def test_postgres_url_selects_psycopg_with_pool_and_redis_url_selects_redis():
    env = {
        "DATABASE_URL": "postgres://u@db.example:5432/kaiwa",
        "REDIS_URL": "redis://cache.example:6379/0",
    }
    result = _settings_in_subprocess(
        env,
        "[settings.DATABASES['default']['ENGINE'],"
        " 'pool' in settings.DATABASES['default']['OPTIONS'],"
        " settings.CHANNEL_LAYERS['default']['BACKEND'], settings.CACHES['default']['BACKEND']]",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        "django.db.backends.postgresql",
        True,
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_defaults_are_sqlite_wal_and_in_memory_layer():
    result = _settings_in_subprocess(
        {},
        "[settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['OPTIONS'],"
        " settings.CHANNEL_LAYERS['default']['BACKEND']]",
    )
    assert result.returncode == 0, result.stderr
    engine, options, layer = json.loads(result.stdout)
    assert engine == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in options["init_command"] and options["timeout"] > 0
    assert layer == "assistant.channel_layer.LocalChannelLayer"


def test_dotenv_file_is_read(tmp_path):
    # A .env beside manage.py is read; real environment variables win over it.
    dotenv = ROOT / ".env"
    if dotenv.exists():
        pytest.skip("a developer .env exists; not overwriting it")
    dotenv.write_text("LLM_SYSTEM_PROMPT=from-dotenv\nLOG_LEVEL=WARNING\n")
    try:
        result = _settings_in_subprocess(
            {"LOG_LEVEL": "ERROR"}, "[settings.LLM_SYSTEM_PROMPT, settings.LOG_LEVEL]"
        )
    finally:
        dotenv.unlink()
    assert json.loads(result.stdout) == ["from-dotenv", "ERROR"]


def test_seed_guide_names_are_read_when_kaiwas_are_unset():
    env = {
        "DEFAULT_TEMPERATURE": "0.2",
        "DEFAULT_MAX_TOKENS": "512",
        "REQUEST_TIMEOUT": "12",
        "MAX_RETRIES": "1",
        "LLM_MAX_RETRIES": "5",  # Kaiwa's own name wins
    }
    result = _settings_in_subprocess(
        env,
        "[settings.LLM_DEFAULT_TEMPERATURE, settings.LLM_DEFAULT_MAX_TOKENS,"
        " settings.LLM_REQUEST_TIMEOUT, settings.LLM_MAX_RETRIES,"
        " settings.SEED_SETTING_ALIASES_SET]",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        0.2,
        512,
        12.0,
        5,
        [
            ["DEFAULT_TEMPERATURE", "LLM_DEFAULT_TEMPERATURE", False],
            ["DEFAULT_MAX_TOKENS", "LLM_DEFAULT_MAX_TOKENS", False],
            ["REQUEST_TIMEOUT", "LLM_REQUEST_TIMEOUT", False],
            ["MAX_RETRIES", "LLM_MAX_RETRIES", True],
        ],
    ]


def test_turn_database_threads_default_to_one_on_sqlite_and_four_on_postgres():
    """SQLite writes one transaction at a time: more turn threads only contend for its lock."""
    cases = {
        "sqlite:////tmp/kaiwa-settings-test.sqlite3": 1,
        "postgres://u@db.example:5432/kaiwa": 4,
    }
    for url, threads in cases.items():
        result = _settings_in_subprocess({"DATABASE_URL": url}, "settings.TURN_DB_THREADS")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == threads
    explicit = {"DATABASE_URL": "sqlite:////tmp/x.sqlite3", "TURN_DB_THREADS": "3"}
    assert json.loads(_settings_in_subprocess(explicit, "settings.TURN_DB_THREADS").stdout) == 3
