"""Azure OpenAI: classic deployment URLs with an API version, or Azure's v1 endpoint.

`AZURE_OPENAI_API_VERSION=v1` selects the v1 endpoint (`{endpoint}/openai/v1/`, a plain
`AsyncOpenAI` client, the deployment name as `model`); any other value is a classic API
version (`{endpoint}/openai/deployments/{deployment}/…?api-version=…` via `AsyncAzureOpenAI`).
Images may live in a resource of their own; without one, the chat resource is used.
https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
"""

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import openai
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from assistant.backend_config import is_http_url, option
from assistant.backends.openai_compatible import (
    CompatibleOptions,
    OpenAICompatibleBackend,
    Purpose,
)
from assistant.errors import LLMNotConfigured

V1 = "v1"
# "v1", or a dated classic version such as 2024-10-21 or 2025-01-01-preview.
API_VERSION_RE = re.compile(r"v1|\d{4}-\d{2}-\d{2}(-preview)?")
URL_VARIABLES = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_IMAGE_ENDPOINT")


@dataclass(frozen=True, kw_only=True)
class AzureOptions(CompatibleOptions):
    URLS: ClassVar[tuple[str, ...]] = ("endpoint", "image_endpoint")

    endpoint: str = option("AZURE_OPENAI_ENDPOINT", "")
    api_key: str = option("AZURE_OPENAI_API_KEY", "", secret=True)
    deployment: str = option("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4")
    api_version: str = option("AZURE_OPENAI_API_VERSION", "2025-01-01-preview")
    # Without an image resource of its own, images use the chat resource.
    image_endpoint: str = option("AZURE_OPENAI_IMAGE_ENDPOINT", "")
    image_api_key: str = option("AZURE_OPENAI_IMAGE_API_KEY", "", secret=True)
    image_deployment: str = option("AZURE_OPENAI_IMAGE_DEPLOYMENT", "dall-e-3")

    @classmethod
    def from_options(cls, options: Any) -> Self:
        config = super().from_options(options)
        if not API_VERSION_RE.fullmatch(config.api_version):
            raise ImproperlyConfigured(_api_version_problem(config.api_version))
        return config


def _api_version_problem(value: object) -> str:
    return (
        "AZURE_OPENAI_API_VERSION must be v1 or a dated API version such as "
        f"2025-01-01-preview, not {value!r}."
    )


class AzureOpenAIBackend(OpenAICompatibleBackend):
    """Azure OpenAI chat (deployment = model) and image generation (separate resource)."""

    provider = "azure"
    Options = AzureOptions
    API_KEY_SETTINGS = {"chat": "AZURE_OPENAI_API_KEY", "image": "AZURE_OPENAI_IMAGE_API_KEY"}
    MODEL_SETTINGS = {
        "chat": "AZURE_OPENAI_DEPLOYMENT_NAME",
        "image": "AZURE_OPENAI_IMAGE_DEPLOYMENT",
    }

    def __init__(self, options: AzureOptions) -> None:
        super().__init__(options, model=options.deployment, image_model=options.image_deployment)
        self.endpoint = options.endpoint.rstrip("/")
        self.api_version = options.api_version
        self.image_endpoint = (options.image_endpoint or options.endpoint).rstrip("/")
        self._api_key = options.api_key
        self._image_api_key = options.image_api_key or options.api_key
        self.info.extra = {
            "endpoint": self.endpoint or None,
            "api_version": self.api_version,
            "image_endpoint": self.image_endpoint or None,
            "image_deployment": options.image_deployment,
        }

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """Endpoints are http(s) URLs and the API version well-formed (whenever set); the
        configured backend needs an endpoint and a key."""
        errors: list[CheckMessage] = []
        for name in URL_VARIABLES:
            value = getattr(settings, name, "")
            if value and not is_http_url(value):
                errors.append(
                    Error(
                        f"{name} is not a valid http(s) URL: {value!r}.",
                        hint="For example https://<resource>.openai.azure.com.",
                        id="kaiwa.E003",
                    )
                )
        version = getattr(settings, "AZURE_OPENAI_API_VERSION", "")
        if version and not (isinstance(version, str) and API_VERSION_RE.fullmatch(version)):
            errors.append(
                Error(
                    _api_version_problem(version),
                    hint="v1 selects Azure's v1 endpoint ({endpoint}/openai/v1/).",
                    id="kaiwa.E013",
                )
            )
        if options is None:
            return errors
        if not options.get("endpoint"):
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
        return errors

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
                **self._limits(purpose),
                http_client=self._http_client(),
            )
        # No azure_deployment: the per-call `model` becomes the deployment in the path, so
        # ChatOptions.model can pick another deployment of the same resource.
        return openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            api_key=api_key,
            api_version=self.api_version,
            **self._limits(purpose),
            http_client=self._http_client(),
        )
