"""System checks of the LLM configuration (tag "kaiwa"), run by `manage.py check`.

Each message names the environment variable at fault, never its value when it is a
secret. `run_startup_checks()` lets the ASGI entry point refuse to start on an error.
"""

import logging
import numbers
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError

TAG = "kaiwa"
PROVIDERS = ("azure", "openai", "demo")

logger = logging.getLogger("kaiwa.checks")


def _number(value: Any) -> float | None:
    """`value` as a real number, or None (booleans and text are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _positive_seconds(name: str, default: float, check_id: str) -> list[CheckMessage]:
    """An error when setting `name` is not a number of seconds greater than 0."""
    value = getattr(settings, name, default)
    seconds = _number(value)
    if seconds is not None and seconds > 0:
        return []
    return [
        Error(f"{name} must be a number of seconds greater than 0, not {value!r}.", id=check_id)
    ]


def _is_http_url(value: str) -> bool:
    # Not URLValidator: it refuses single-label hosts such as docker-compose's "http://ollama".
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _options() -> dict[str, Any]:
    config = getattr(settings, "LLM_BACKEND", None)
    options = config.get("OPTIONS") if isinstance(config, dict) else None
    return options if isinstance(options, dict) else {}


@register(TAG)
def check_llm_provider(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Provider choice, credentials and the production rule for the demo backend."""
    errors: list[CheckMessage] = []
    raw = getattr(settings, "LLM_PROVIDER_SETTING", "")
    provider = getattr(settings, "LLM_PROVIDER", raw)
    options = _options()
    if provider not in PROVIDERS:
        errors.append(
            Error(
                f"LLM_PROVIDER={raw or provider!r} is not a known provider.",
                hint="Use azure, openai or demo, or leave LLM_PROVIDER unset to choose "
                "automatically.",
                id="kaiwa.E001",
            )
        )
        return errors

    azure_endpoint = getattr(settings, "AZURE_OPENAI_ENDPOINT", "")
    if provider == "azure":
        if not azure_endpoint:
            errors.append(
                Error(
                    "LLM_PROVIDER=azure but AZURE_OPENAI_ENDPOINT is not set.",
                    hint="Set AZURE_OPENAI_ENDPOINT to https://<resource>.openai.azure.com.",
                    id="kaiwa.E011",
                )
            )
        elif not options.get("api_key"):
            errors.append(
                Error(
                    "AZURE_OPENAI_ENDPOINT is set but AZURE_OPENAI_API_KEY is missing.",
                    hint="Set AZURE_OPENAI_API_KEY to a key of that Azure OpenAI resource.",
                    id="kaiwa.E002",
                )
            )
    if provider == "openai" and not (
        options.get("api_key") or getattr(settings, "OPENAI_BASE_URL", "")
    ):
        errors.append(
            Error(
                "LLM_PROVIDER=openai but neither OPENAI_API_KEY nor OPENAI_BASE_URL is set.",
                hint="Set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for a compatible "
                "server such as Ollama (http://localhost:11434/v1).",
                id="kaiwa.E008",
            )
        )

    if provider == "demo" and getattr(settings, "ENVIRONMENT", "") == "production":
        if raw == "demo":
            errors.append(
                checks.Warning(
                    "LLM_PROVIDER=demo in production: every reply is canned demo output.",
                    hint="Configure Azure OpenAI, OpenAI or a compatible server.",
                    id="kaiwa.W001",
                )
            )
        else:
            errors.append(
                Error(
                    "No LLM provider is configured in production (LLM_PROVIDER is unset and "
                    "neither AZURE_OPENAI_ENDPOINT nor OPENAI_API_KEY/OPENAI_BASE_URL is set); "
                    "the demo backend is never chosen silently there.",
                    hint="Configure a provider, or set LLM_PROVIDER=demo explicitly.",
                    id="kaiwa.E009",
                )
            )
    return errors


@register(TAG)
def check_llm_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Endpoint variables must be http(s) URLs."""
    errors: list[CheckMessage] = []
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_IMAGE_ENDPOINT", "OPENAI_BASE_URL"):
        value = getattr(settings, name, "")
        if value and not (isinstance(value, str) and _is_http_url(value)):
            errors.append(
                Error(
                    f"{name} is not a valid http(s) URL: {value!r}.",
                    hint="For example https://<resource>.openai.azure.com or "
                    "http://localhost:11434/v1.",
                    id="kaiwa.E003",
                )
            )
    return errors


@register(TAG)
def check_llm_parameters(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Per-call defaults, timeout and retry count within their ranges."""
    errors: list[CheckMessage] = []
    temperature = _number(getattr(settings, "LLM_DEFAULT_TEMPERATURE", 0.7))
    if temperature is None or not 0 <= temperature <= 2:
        errors.append(
            Error(
                "LLM_DEFAULT_TEMPERATURE must be a number from 0 to 2, not "
                f"{getattr(settings, 'LLM_DEFAULT_TEMPERATURE', None)!r}.",
                id="kaiwa.E004",
            )
        )
    max_tokens = getattr(settings, "LLM_DEFAULT_MAX_TOKENS", 2000)
    cap = getattr(settings, "LLM_MAX_TOKENS_CAP", None)
    if (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or max_tokens < 1
        or (isinstance(cap, int) and max_tokens > cap)
    ):
        errors.append(
            Error(
                f"LLM_DEFAULT_MAX_TOKENS must be an integer from 1 to LLM_MAX_TOKENS_CAP "
                f"({cap}), not {max_tokens!r}.",
                id="kaiwa.E005",
            )
        )
    errors += _positive_seconds("LLM_REQUEST_TIMEOUT", 30, "kaiwa.E006")
    retries = getattr(settings, "LLM_MAX_RETRIES", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        errors.append(
            Error(
                f"LLM_MAX_RETRIES must be an integer of 0 or more, not {retries!r}.",
                id="kaiwa.E007",
            )
        )
    delay = _number(getattr(settings, "DEMO_TOKEN_DELAY", 0))
    if delay is None or delay < 0:
        errors.append(
            Error(
                "DEMO_TOKEN_DELAY must be a number of seconds of 0 or more, not "
                f"{getattr(settings, 'DEMO_TOKEN_DELAY', None)!r}.",
                id="kaiwa.E012",
            )
        )
    return errors


@register(TAG)
def check_llm_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """LLM_BACKEND must name an importable backend that accepts its OPTIONS."""
    from assistant.backends import build_backend

    config = getattr(settings, "LLM_BACKEND", None)
    if isinstance(config, dict) and not config.get("BACKEND"):
        return []  # an unknown LLM_PROVIDER, already reported by kaiwa.E001
    try:
        build_backend(config)
    except (ImproperlyConfigured, ValueError) as exc:
        message = str(exc) if isinstance(exc, ImproperlyConfigured) else "an option is invalid"
        return [Error(f"LLM_BACKEND cannot be built: {message}", id="kaiwa.E010")]
    return []


@register(TAG)
def check_llm_models(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """LLM_MODELS must be comma-separated `id` or `id=Label` entries."""
    from conversations.allowed_models import parse_llm_models

    raw = getattr(settings, "LLM_MODELS", "")
    if not isinstance(raw, str):
        return [Error(f"LLM_MODELS must be text, not {raw!r}.", id="kaiwa.E040")]
    if not raw.strip():
        return []  # unset: the provider's own model
    try:
        parse_llm_models(raw)
    except ValueError as exc:
        return [
            Error(
                f"LLM_MODELS is malformed: {exc}.",
                hint="Comma-separated model ids, each optionally with a label, the default "
                "first: gpt-4o-mini=GPT-4o mini,gpt-4o=GPT-4o (Azure: deployment names).",
                id="kaiwa.E040",
            )
        ]
    return []


def _format(messages: Iterable[CheckMessage]) -> str:
    return "\n".join(str(message) for message in messages)


def run_startup_checks() -> None:
    """Run the "kaiwa" checks; raise SystemCheckError if any is an error (server start-up)."""
    messages = checks.run_checks(tags=[TAG])
    errors = [m for m in messages if m.is_serious()]
    for warning in (m for m in messages if not m.is_serious()):
        logger.warning("system_check", extra={"check": warning.id, "detail": warning.msg})
    if errors:
        raise SystemCheckError(
            "The LLM configuration has errors; the server will not start.\n" + _format(errors)
        )


# --- Images and web search -------------------------------------------------------------

SEARCH_PROVIDERS = ("searxng", "tavily", "brave")


def _search_options() -> dict[str, Any]:
    config = getattr(settings, "SEARCH_BACKEND", None)
    options = config.get("OPTIONS") if isinstance(config, dict) else None
    return options if isinstance(options, dict) else {}


@register(TAG)
def check_search(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """SEARCH_PROVIDER known, with the URL or key its provider needs."""
    provider = getattr(settings, "SEARCH_PROVIDER", "")
    if not provider:
        return []  # no web search: the search_web tool is simply not offered
    if provider not in SEARCH_PROVIDERS:
        return [
            Error(
                f"SEARCH_PROVIDER={provider!r} is not a known search provider.",
                hint="Use searxng, tavily or brave, or leave SEARCH_PROVIDER unset to offer "
                "no web search.",
                id="kaiwa.E020",
            )
        ]
    errors: list[CheckMessage] = []
    options = _search_options()
    if provider == "searxng":
        url = getattr(settings, "SEARXNG_URL", "")
        if not url:
            errors.append(
                Error(
                    "SEARCH_PROVIDER=searxng but SEARXNG_URL is not set.",
                    hint="Set SEARXNG_URL to your SearxNG instance, e.g. http://localhost:8888 "
                    "(with the json format enabled in its settings.yml).",
                    id="kaiwa.E021",
                )
            )
        elif not (isinstance(url, str) and _is_http_url(url)):
            errors.append(
                Error(f"SEARXNG_URL is not a valid http(s) URL: {url!r}.", id="kaiwa.E021")
            )
    key_names = {
        "tavily": ("TAVILY_API_KEY", "kaiwa.E022"),
        "brave": ("BRAVE_API_KEY", "kaiwa.E023"),
    }
    if provider in key_names and not options.get("api_key"):
        name, check_id = key_names[provider]
        errors.append(Error(f"SEARCH_PROVIDER={provider} but {name} is not set.", id=check_id))
    base_names = {"tavily": "TAVILY_BASE_URL", "brave": "BRAVE_BASE_URL"}
    if provider in base_names:
        name = base_names[provider]
        value = getattr(settings, name, "")
        if not (isinstance(value, str) and _is_http_url(value)):
            errors.append(Error(f"{name} is not a valid http(s) URL: {value!r}.", id="kaiwa.E024"))
    errors += _positive_seconds("SEARCH_TIMEOUT", 10, "kaiwa.E025")
    max_bytes = getattr(settings, "SEARCH_MAX_RESPONSE_BYTES", 1)
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
        errors.append(
            Error(
                f"SEARCH_MAX_RESPONSE_BYTES must be a positive integer (bytes), not {max_bytes!r}.",
                id="kaiwa.E041",
            )
        )
    if not errors:
        from assistant.search import build_search_backend

        try:
            build_search_backend(getattr(settings, "SEARCH_BACKEND", None))
        except ImproperlyConfigured as exc:
            errors.append(Error(f"SEARCH_BACKEND cannot be built: {exc}", id="kaiwa.E026"))
    return errors


@register(TAG)
def check_images(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Image download limits and sizes."""
    errors: list[CheckMessage] = []
    errors += _positive_seconds("IMAGE_DOWNLOAD_TIMEOUT", 30, "kaiwa.E027")
    max_bytes = getattr(settings, "IMAGE_MAX_BYTES", 1)
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
        errors.append(
            Error(
                f"IMAGE_MAX_BYTES must be a positive integer (bytes), not {max_bytes!r}.",
                id="kaiwa.E028",
            )
        )
    sizes = getattr(settings, "IMAGE_SIZES", None)
    if (
        not isinstance(sizes, list | tuple)
        or not sizes
        or not all(isinstance(s, str) and _SIZE_RE.fullmatch(s) for s in sizes)
    ):
        errors.append(
            Error(
                f"IMAGE_SIZES must be a non-empty list of WIDTHxHEIGHT sizes, not {sizes!r}.",
                hint="For example 1024x1024,1792x1024,1024x1792.",
                id="kaiwa.E029",
            )
        )
    return errors


_SIZE_RE = re.compile(r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")
