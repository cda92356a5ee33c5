"""The configured LLM backend, built lazily once per process from settings.LLM_BACKEND.

    LLM_BACKEND = {"BACKEND": "assistant.backends.openai.OpenAIBackend", "OPTIONS": {...}}

Like Django's CACHES: a dotted path to an `LLMBackend` subclass and the OPTIONS it is built
from (`from_options()`). `get_backend()` caches the instance (and with it the SDK clients
and their connection pools); `reset_backend()` forgets it, and runs by itself when a test
changes LLM_BACKEND. settings.py picks one of PROVIDERS from LLM_PROVIDER or, unset, from
the variables that are set (docs/configuration.md).
"""

from typing import cast

from assistant.backend_config import BackendSetting
from assistant.backends.base import LLMBackend

__all__ = [
    "LLM_BACKEND",
    "PROVIDERS",
    "LLMBackend",
    "build_backend",
    "get_backend",
    "reset_backend",
]

# LLM_PROVIDER's values and the backend each selects.
PROVIDERS = {
    "azure": "assistant.backends.azure.AzureOpenAIBackend",
    "openai": "assistant.backends.openai.OpenAIBackend",
    "demo": "assistant.backends.demo.DemoBackend",
}

LLM_BACKEND = BackendSetting(
    "LLM_BACKEND", LLMBackend, chooser="LLM_PROVIDER (azure, openai or demo)"
)


def build_backend(config: dict | None = None) -> LLMBackend:
    """A new backend from `config` (default: settings.LLM_BACKEND); ImproperlyConfigured if bad."""
    # Never None: LLM_BACKEND is not optional, so a missing one is ImproperlyConfigured.
    return cast(LLMBackend, LLM_BACKEND.build() if config is None else LLM_BACKEND.build(config))


def get_backend() -> LLMBackend:
    """The process-wide backend of settings.LLM_BACKEND, built on first use."""
    return cast(LLMBackend, LLM_BACKEND.get())


def reset_backend() -> None:
    """Forget the cached backend; the next get_backend() builds a new one."""
    LLM_BACKEND.reset()
