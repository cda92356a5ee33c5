"""A streamed chat completion's chunks as plain dicts.

The SDK still makes the request (auth, Azure's URLs, retries before the first byte, HTTP
errors as exceptions); only the body of a 200 stream is read here. The SDK's own stream
turns every chunk into pydantic models by walking the type annotations of every field of
every chunk: about 200 µs of CPU per chunk on the benchmark machine, the largest share of
relaying one token. `json.loads` gives the same data for a tenth of that.

Errors keep the SDK's types, so the backend maps them as before: a network failure midway
is `openai.APIConnectionError` (or `APITimeoutError`), an error event inside the stream or
a body that is not JSON is `openai.APIError`.
"""

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import openai

DRAIN_SECONDS = 1.0


class ChunkStream:
    """Iterate the `data:` payloads of an OpenAI-style server-sent event stream."""

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for _data, chunk in self.pairs():
            yield chunk

    async def pairs(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Each chunk with the text it was sent as, for relays that pass it on unchanged."""
        request = self._response.request
        events = self._events()
        try:
            async for data in events:
                if data == "[DONE]":
                    # Read the (empty) rest, so the connection goes back to the pool.
                    with anyio.move_on_after(DRAIN_SECONDS):
                        async for _ in events:
                            pass
                    return
                try:
                    chunk = json.loads(data)
                except ValueError as exc:
                    raise openai.APIError(
                        message="The stream held a chunk that is not JSON.",
                        request=request,
                        body=None,
                    ) from exc
                if isinstance(chunk, dict) and chunk.get("error"):
                    error = chunk["error"]
                    message = error.get("message") if isinstance(error, dict) else None
                    if not isinstance(message, str) or not message:
                        message = "An error occurred during streaming"
                    raise openai.APIError(message=message, request=request, body=error)
                if isinstance(chunk, dict):
                    yield data, chunk
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as exc:
            raise openai.APIConnectionError(request=request) from exc

    async def _events(self) -> AsyncIterator[str]:
        """The data of each event (its `data:` lines joined), as the SSE format defines."""
        data: list[str] = []
        async for line in self._response.aiter_lines():
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
            # `event:`, `id:`, `retry:` and comments carry nothing for chat completions.
        if data:
            yield "\n".join(data)

    async def close(self) -> None:
        await self._response.aclose()
