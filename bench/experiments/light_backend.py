"""An OpenAI backend that reads the stream's JSON itself instead of the SDK's models.

For measurement only (bench.experiments.light_stream). The `openai` SDK turns every
streamed chunk into pydantic models through `openai._models.construct_type`, which walks
the type annotations of every field of every chunk: about 200 µs of CPU per chunk on the
bench machine, two thirds of the SDK's cost per token. This backend keeps the SDK for the
request (auth, retries, errors) and decodes the response's SSE lines with `json.loads`
into light attribute objects, so `OpenAICompatibleBackend.stream_chat` runs unchanged.
"""

import json
from typing import Any

import openai

from assistant.backends.openai import OpenAIBackend


class _Obj:
    """Attribute access over a decoded JSON object; absent keys read as None."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        value = self._d.get(name)
        if isinstance(value, dict):
            return _Obj(value)
        if isinstance(value, list):
            return [_Obj(v) if isinstance(v, dict) else v for v in value]
        return value


class _LightStream:
    def __init__(self, response) -> None:
        self._response = response

    async def __aiter__(self):
        async for line in self._response.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            data = json.loads(payload)
            if isinstance(data, dict) and data.get("error"):
                raise openai.APIError(
                    message=str(data["error"]), request=self._response.request, body=data
                )
            yield _Obj(data)

    async def close(self) -> None:
        await self._response.aclose()


class LightStreamOpenAIBackend(OpenAIBackend):
    async def _open_stream(self, kwargs: dict[str, Any]) -> tuple[Any, int]:
        completions = self._client("chat").chat.completions
        extra = {"stream_options": {"include_usage": True}} if self.stream_usage_supported else {}
        raw = await completions.with_raw_response.create(**kwargs, stream=True, **extra)
        return _LightStream(raw.http_response), raw.retries_taken
