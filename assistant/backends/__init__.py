"""The configured LLM backend, built lazily once per process from settings.LLM_BACKEND.

    LLM_BACKEND = {"BACKEND": "assistant.backends.openai.OpenAIBackend", "OPTIONS": {...}}

Like Django's EMAIL_BACKEND / CACHES: a dotted path to an `LLMBackend` subclass and the
keyword arguments it is built with. `get_backend()` caches the instance (and with it the SDK
clients and their connection pools); `reset_backend()` forgets it, and runs by itself when a
test changes LLM_BACKEND.
"""

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from assistant.backends.base import LLMBackend

__all__ = ["LLMBackend", "build_backend", "get_backend", "reset_backend"]

_backend: LLMBackend | None = None
_lock = threading.Lock()


def build_backend(config: dict | None = None) -> LLMBackend:
    """A new backend from `config` (default: settings.LLM_BACKEND); ImproperlyConfigured if bad."""
    if config is None:
        config = getattr(settings, "LLM_BACKEND", None)
    if not isinstance(config, dict):
        raise ImproperlyConfigured(
            "LLM_BACKEND must be a dict with 'BACKEND' (a dotted path) and 'OPTIONS'."
        )
    path = config.get("BACKEND")
    if not path or not isinstance(path, str):
        raise ImproperlyConfigured(
            "LLM_BACKEND['BACKEND'] is not set; check LLM_PROVIDER (azure, openai or demo)."
        )
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"LLM_BACKEND['BACKEND'] = {path!r} could not be imported: {exc}"
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, LLMBackend)):
        raise ImproperlyConfigured(
            f"LLM_BACKEND['BACKEND'] = {path!r} is not a subclass of "
            "assistant.backends.base.LLMBackend."
        )
    options = config.get("OPTIONS") or {}
    if not isinstance(options, dict):
        raise ImproperlyConfigured("LLM_BACKEND['OPTIONS'] must be a dict.")
    try:
        return backend_class(**options)
    except TypeError as exc:
        # Names the unexpected option, never a value (OPTIONS hold the API key).
        raise ImproperlyConfigured(f"LLM_BACKEND['OPTIONS'] do not fit {path}: {exc}") from None


def get_backend() -> LLMBackend:
    """The process-wide backend of settings.LLM_BACKEND, built on first use."""
    global _backend
    backend = _backend
    if backend is None:
        with _lock:
            if _backend is None:
                _backend = build_backend()
            backend = _backend
    return backend


def reset_backend() -> None:
    """Forget the cached backend; the next get_backend() builds a new one."""
    global _backend
    with _lock:
        _backend = None


@receiver(setting_changed)
def _reset_on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "LLM_BACKEND":
        reset_backend()
