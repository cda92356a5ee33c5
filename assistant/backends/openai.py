"""OpenAI, and any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LiteLLM) by base URL."""

import openai

from assistant.backends.openai_compatible import OpenAICompatibleBackend, Purpose
from assistant.errors import LLMNotConfigured

# Local servers ignore the key but the SDK insists on one.
NO_KEY_REQUIRED = "sk-no-key-required"  # noqa: S105 - a placeholder, not a secret


class OpenAIBackend(OpenAICompatibleBackend):
    """`AsyncOpenAI(base_url=…)`; without a base URL, the SDK's default (api.openai.com)."""

    provider = "openai"
    API_KEY_SETTINGS = {"chat": "OPENAI_API_KEY", "image": "OPENAI_API_KEY"}
    MODEL_SETTINGS = {"chat": "OPENAI_MODEL", "image": "OPENAI_IMAGE_MODEL"}

    def __init__(
        self,
        *,
        api_key: str = "",
        base_url: str = "",
        model: str = "gpt-4o-mini",
        image_model: str = "dall-e-3",
        timeout: float = 30.0,
        max_retries: int = 3,
        http_client: str = "aiohttp",
    ) -> None:
        super().__init__(
            model=model,
            image_model=image_model,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
        self._api_key = api_key
        self.base_url = base_url
        self.info.extra = {"base_url": base_url or None, "image_model": image_model}

    def _make_client(self, purpose: Purpose) -> openai.AsyncOpenAI:
        api_key = self._api_key or (NO_KEY_REQUIRED if self.base_url else "")
        if not api_key:
            raise LLMNotConfigured("Set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server.")
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=self.base_url or None,
            max_retries=self.max_retries,
            timeout=self.timeout,
            http_client=self._http_client(),
        )
