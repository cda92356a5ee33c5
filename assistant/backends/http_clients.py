"""The HTTP client under the `openai` SDK: its aiohttp transport (the default) or httpx2.

The SDK documents `http_client=DefaultAioHttpClient()` "for improved concurrency
performance". For us it is CPU: reading a streamed reply through aiohttp costs about a third
less per chunk than through httpx2/httpcore/anyio (bench/: 200 concurrent 100-token streams
read by the SDK in 1.7 s of CPU instead of 2.7 s). Either way the SDK builds the requests,
retries (honouring Retry-After) and turns HTTP statuses into its exceptions.

One correction: the SDK's vendored transport maps every aiohttp connection error, a refused
connection included, to `httpx2.ConnectTimeout`, which the SDK reports as a timeout. A
connection error that is not a timeout is re-raised here as `httpx2.ConnectError`, as
httpx2 itself raises it, so a refused or unresolvable upstream stays `upstream_unavailable`.
"""

from typing import Any

import aiohttp
import httpx2
import openai


class _ConnectErrorTransport(httpx2.AsyncBaseTransport):
    """Wraps the SDK's aiohttp transport: connection errors that are not timeouts stay
    connection errors."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpx2.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
                cause, aiohttp.ServerTimeoutError
            ):
                raise httpx2.ConnectError(str(exc), request=request) from cause
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AioHttpClient(openai.DefaultAioHttpClient):
    """The SDK's aiohttp client (its defaults: timeouts, connection limits, redirects)."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return _ConnectErrorTransport(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return _ConnectErrorTransport(super()._init_proxy_transport(*args, **kwargs))


# LLM_HTTP_CLIENT's values; the backend refuses any other one when it is built.
_FACTORIES = {"aiohttp": _AioHttpClient, "httpx": openai.DefaultAsyncHttpxClient}
HTTP_CLIENTS = tuple(_FACTORIES)


def make_http_client(kind: str) -> httpx2.AsyncClient:
    """A new HTTP client for one SDK client; `kind` is one of HTTP_CLIENTS."""
    return _FACTORIES[kind]()
