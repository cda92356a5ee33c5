"""Azure OpenAI: classic deployment URLs with an API version, or Azure's v1 endpoint.

`AZURE_OPENAI_API_VERSION=v1` selects the v1 endpoint (`{endpoint}/openai/v1/`, a plain
`AsyncOpenAI` client, the deployment name as `model`); any other value is a classic API
version (`{endpoint}/openai/deployments/{deployment}/…?api-version=…` via `AsyncAzureOpenAI`).
Images may live in a resource of their own; without one, the chat resource is used.
"""

import openai

from assistant.backends.openai_compatible import OpenAICompatibleBackend, Purpose
from assistant.errors import LLMNotConfigured

V1 = "v1"


class AzureOpenAIBackend(OpenAICompatibleBackend):
    """Azure OpenAI chat (deployment = model) and image generation (separate resource)."""

    provider = "azure"
    API_KEY_SETTINGS = {"chat": "AZURE_OPENAI_API_KEY", "image": "AZURE_OPENAI_IMAGE_API_KEY"}
    MODEL_SETTINGS = {
        "chat": "AZURE_OPENAI_DEPLOYMENT_NAME",
        "image": "AZURE_OPENAI_IMAGE_DEPLOYMENT",
    }

    def __init__(
        self,
        *,
        endpoint: str = "",
        api_key: str = "",
        deployment: str = "gpt-4",
        api_version: str = "2025-01-01-preview",
        image_endpoint: str = "",
        image_api_key: str = "",
        image_deployment: str = "dall-e-3",
        timeout: float = 30.0,
        max_retries: int = 3,
        http_client: str = "aiohttp",
    ) -> None:
        super().__init__(
            model=deployment,
            image_model=image_deployment,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
        self.endpoint = endpoint.rstrip("/")
        self.api_version = api_version
        self.image_endpoint = (image_endpoint or endpoint).rstrip("/")
        self._api_key = api_key
        self._image_api_key = image_api_key or api_key
        self.info.extra = {
            "endpoint": self.endpoint or None,
            "api_version": api_version,
            "image_endpoint": self.image_endpoint or None,
            "image_deployment": image_deployment,
        }

    def _make_client(self, purpose: Purpose) -> openai.AsyncOpenAI:
        if purpose == "image":
            endpoint, api_key = self.image_endpoint, self._image_api_key
            names = "AZURE_OPENAI_IMAGE_ENDPOINT (or AZURE_OPENAI_ENDPOINT)"
            key_names = "AZURE_OPENAI_IMAGE_API_KEY (or AZURE_OPENAI_API_KEY)"
        else:
            endpoint, api_key = self.endpoint, self._api_key
            names, key_names = "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY"
        if not endpoint:
            raise LLMNotConfigured(f"Set {names}.")
        if not api_key:
            raise LLMNotConfigured(f"Set {key_names}.")
        if self.api_version == V1:
            return openai.AsyncOpenAI(
                base_url=f"{endpoint}/openai/v1/",
                # Microsoft's documented v1 pattern: the key travels as a Bearer token.
                api_key=api_key,
                max_retries=self.max_retries,
                timeout=self.timeout,
                http_client=self._http_client(),
            )
        # No azure_deployment: the per-call `model` becomes the deployment in the path, so
        # ChatOptions.model can pick another deployment of the same resource.
        return openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            api_key=api_key,
            api_version=self.api_version,
            max_retries=self.max_retries,
            timeout=self.timeout,
            http_client=self._http_client(),
        )
