"""OpenAI, and any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LiteLLM) by base URL."""

from dataclasses import dataclass
from typing import Any, ClassVar

import openai
from django.conf import settings
from django.core.checks import CheckMessage, Error

from assistant.backend_config import is_http_url, option
from assistant.backends.openai_compatible import (
    CompatibleOptions,
    OpenAICompatibleBackend,
    Purpose,
)
from assistant.errors import LLMNotConfigured

# Local servers ignore the key but the SDK insists on one.
NO_KEY_REQUIRED = "sk-no-key-required"  # noqa: S105 - a placeholder, not a secret


@dataclass(frozen=True, kw_only=True)
class OpenAIOptions(CompatibleOptions):
    URLS: ClassVar[tuple[str, ...]] = ("base_url",)

    # Either may do: a local server needs only its base URL.
    api_key: str = option("OPENAI_API_KEY", "", secret=True)
    base_url: str = option("OPENAI_BASE_URL", "")  # "" = the SDK's default, api.openai.com
    model: str = option("OPENAI_MODEL", "gpt-4o-mini")
    image_model: str = option("OPENAI_IMAGE_MODEL", "dall-e-3")


class OpenAIBackend(OpenAICompatibleBackend):
    """`AsyncOpenAI(base_url=…)`; without a base URL, the SDK's default (api.openai.com)."""

    provider = "openai"
    Options = OpenAIOptions
    API_KEY_SETTINGS = {"chat": "OPENAI_API_KEY", "image": "OPENAI_API_KEY"}
    MODEL_SETTINGS = {"chat": "OPENAI_MODEL", "image": "OPENAI_IMAGE_MODEL"}

    def __init__(self, options: OpenAIOptions) -> None:
        super().__init__(options, model=options.model, image_model=options.image_model)
        self._api_key = options.api_key
        self.base_url = options.base_url
        self.info.extra = {"base_url": self.base_url or None, "image_model": options.image_model}

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """OPENAI_BASE_URL is an http(s) URL (whenever set); the configured backend needs a
        key or a base URL (a local server needs no key)."""
        errors: list[CheckMessage] = []
        base_url = getattr(settings, "OPENAI_BASE_URL", "")
        if base_url and not is_http_url(base_url):
            errors.append(
                Error(
                    f"OPENAI_BASE_URL is not a valid http(s) URL: {base_url!r}.",
                    hint="For example http://localhost:11434/v1.",
                    id="kaiwa.E003",
                )
            )
        if options is not None and not (options.get("api_key") or options.get("base_url")):
            errors.append(
                Error(
                    "LLM_PROVIDER=openai but neither OPENAI_API_KEY nor OPENAI_BASE_URL is set.",
                    hint="Set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for a compatible "
                    "server such as Ollama (http://localhost:11434/v1).",
                    id="kaiwa.E008",
                )
            )
        return errors

    def _make_client(self, purpose: Purpose) -> openai.AsyncOpenAI:
        api_key = self._api_key or (NO_KEY_REQUIRED if self.base_url else "")
        if not api_key:
            raise LLMNotConfigured("Set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server.")
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=self.base_url or None,
            **self._limits(purpose),
            http_client=self._http_client(),
        )
