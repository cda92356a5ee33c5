"""System checks of the configuration (tag "kaiwa"), run by `manage.py check`.

Each message names the environment variable at fault, never its value when it is a
secret. What a backend needs is checked by the backend itself (its `check()`, see
assistant/backend_config.py); here are the provider choice and the settings every provider
shares. `run_startup_checks()` lets the ASGI entry point refuse to start on an error.
"""

import logging
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError
from django.utils.module_loading import import_string

from assistant.backend_config import BackendSetting, as_number

TAG = "kaiwa"

logger = logging.getLogger("kaiwa.checks")


def _positive_seconds(name: str, default: float, check_id: str) -> list[CheckMessage]:
    """An error when setting `name` is not a number of seconds greater than 0."""
    value = getattr(settings, name, default)
    seconds = as_number(value)
    if seconds is not None and seconds > 0:
        return []
    return [
        Error(f"{name} must be a number of seconds greater than 0, not {value!r}.", id=check_id)
    ]


def _backend_checks(
    setting: BackendSetting,
    providers: dict[str, str],
    build_error_id: str,
    messages: list[CheckMessage],
) -> list[CheckMessage]:
    """`messages`, then every known backend's `check()` (the configured one with its
    OPTIONS), then, when there is no error yet, whether the configured backend can be built."""
    config = setting.config()
    try:
        configured = setting.backend_class()
    except ImproperlyConfigured:
        configured = None  # reported below, when it is built
    classes = [import_string(path) for path in providers.values()]
    if configured is not None and configured not in classes:
        classes.append(configured)  # a backend of the project's own
    for backend_class in classes:
        options = setting.options() if backend_class is configured else None
        messages += backend_class.check(options)
    if config is None or any(message.is_serious() for message in messages):
        return messages
    try:
        setting.build()
    except ImproperlyConfigured as exc:
        messages.append(Error(f"{setting.name} cannot be built: {exc}", id=build_error_id))
    return messages


@register(TAG)
def check_llm_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """LLM_PROVIDER is known; each LLM backend's checks; LLM_BACKEND can be built."""
    from assistant.backends import LLM_BACKEND, PROVIDERS

    raw = getattr(settings, "LLM_PROVIDER_SETTING", "")
    provider = getattr(settings, "LLM_PROVIDER", raw)
    messages: list[CheckMessage] = []
    if provider not in PROVIDERS:
        messages.append(
            Error(
                f"LLM_PROVIDER={raw or provider!r} is not a known provider.",
                hint="Use azure, openai or demo, or leave LLM_PROVIDER unset to choose "
                "automatically.",
                id="kaiwa.E001",
            )
        )
    return _backend_checks(LLM_BACKEND, PROVIDERS, "kaiwa.E010", messages)


@register(TAG)
def check_llm_parameters(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Per-call defaults, timeout and retry count within their ranges."""
    errors: list[CheckMessage] = []
    temperature = as_number(getattr(settings, "LLM_DEFAULT_TEMPERATURE", 0.7))
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
    return errors


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


@register(TAG)
def check_search(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """SEARCH_PROVIDER is known; the search backend's checks; SEARCH_BACKEND can be built."""
    from assistant.search import PROVIDERS, SEARCH_BACKEND

    provider = getattr(settings, "SEARCH_PROVIDER", "")
    if not provider:
        return []  # no web search: the search_web tool is simply not offered
    if provider not in PROVIDERS:
        return [
            Error(
                f"SEARCH_PROVIDER={provider!r} is not a known search provider.",
                hint="Use searxng, tavily or brave, or leave SEARCH_PROVIDER unset to offer "
                "no web search.",
                id="kaiwa.E020",
            )
        ]
    return _backend_checks(SEARCH_BACKEND, PROVIDERS, "kaiwa.E026", [])


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


@register(TAG)
def check_attachments(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The attachment limits: whole numbers greater than 0."""
    errors: list[CheckMessage] = []
    for name, unit, check_id in (
        ("ATTACHMENT_MAX_BYTES", "bytes", "kaiwa.E050"),
        ("ATTACHMENT_MAX_PER_MESSAGE", "attachments", "kaiwa.E051"),
    ):
        value = getattr(settings, name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(
                Error(f"{name} must be a positive integer ({unit}), not {value!r}.", id=check_id)
            )
    return errors
