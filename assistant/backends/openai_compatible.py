"""Everything the OpenAI and Azure backends share: calls, streaming, errors and call logs.

Subclasses differ only in how the SDK client is built (`_make_client`). Retries are the
SDK's own (`max_retries`, honouring Retry-After); nothing here loops again, except the one
documented `stream_options` fallback, which is a capability probe rather than a retry.

Clients are cached per running event loop, not per process: httpx2's connection pool keeps
sockets whose transports belong to the loop that opened them, and reusing one from another
loop raises a bare ``RuntimeError: Event loop is closed`` out of the SDK (verified with
openai 3.51.0 / httpx2 2.16.2 under `async_to_sync` and `asyncio.run`, which make a loop per
call). Under daphne there is one loop, so one client and one pool per process. A client
whose loop has closed is closed from the next loop that asks for one: aiohttp's session
knows its loop is gone and only marks itself closed (else it complains when collected);
httpx2's sockets cannot be closed from another loop and are left to the garbage collector.
"""

import asyncio
import base64
import binascii
import email.utils
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import openai
from django.conf import settings

from assistant.backend_config import Options, option
from assistant.backends.base import (
    BackendInfo,
    ChatMessage,
    ChatOptions,
    Completion,
    GeneratedImageData,
    LLMBackend,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsRequested,
    Usage,
)
from assistant.backends.call_log import CallLog, last_user_text
from assistant.backends.chunk_stream import ChunkStream
from assistant.backends.http_clients import HTTP_CLIENTS, make_http_client
from assistant.errors import (
    ContentFiltered,
    ImagesRefused,
    LLMError,
    ProviderRejected,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("kaiwa.llm")

Purpose = Literal["chat", "image"]

# Error codes with which providers refuse a prompt on content grounds: Azure's chat filter,
# and OpenAI's / Azure's image safety system.
_CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})


@dataclass(slots=True)
class _PartialToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class CompatibleOptions(Options):
    """What every OpenAI-API backend is configured with, besides its endpoint and key."""

    timeout: float = option("LLM_REQUEST_TIMEOUT", 30.0)
    max_retries: int = option("LLM_MAX_RETRIES", 3)  # the SDK's own retries
    # Image calls: 10 to 60 seconds each, so a timeout and retries of their own.
    image_timeout: float = option("IMAGE_REQUEST_TIMEOUT", 120.0)
    image_max_retries: int = option("IMAGE_MAX_RETRIES", 2)
    http_client: str = option("LLM_HTTP_CLIENT", "aiohttp", choices=HTTP_CLIENTS)


class OpenAICompatibleBackend(LLMBackend):
    """Base of the backends that speak the OpenAI HTTP API through the `openai` SDK."""

    provider: ClassVar[Literal["azure", "openai"]]
    Options: ClassVar[type[CompatibleOptions]] = CompatibleOptions
    # Environment variables named in operator-facing error messages, by purpose.
    API_KEY_SETTINGS: ClassVar[dict[str, str]]
    MODEL_SETTINGS: ClassVar[dict[str, str]]

    def __init__(self, options: CompatibleOptions, *, model: str, image_model: str) -> None:
        super().__init__(options)
        self.http_client = options.http_client
        self.default_model = model
        self.image_model = image_model
        self.timeout = options.timeout
        self.max_retries = options.max_retries
        self.image_timeout = options.image_timeout
        self.image_max_retries = options.image_max_retries
        # Cleared (for this instance) the first time the server rejects `stream_options`.
        self.stream_usage_supported = True
        self._clients: dict[asyncio.AbstractEventLoop, dict[str, openai.AsyncOpenAI]] = {}
        self._clients_lock = threading.Lock()
        self._closing: set[asyncio.Task] = set()  # closing clients of closed loops
        self.info = BackendInfo(provider=self.provider, default_model=model)

    def __repr__(self) -> str:
        # Never the options: they hold the API key.
        return f"<{type(self).__name__} model={self.default_model!r}>"

    # -- clients ---------------------------------------------------------------------

    def _make_client(self, purpose: Purpose) -> openai.AsyncOpenAI:
        """Build the SDK client for `purpose` ("chat" or "image")."""
        raise NotImplementedError

    def _limits(self, purpose: Purpose) -> dict[str, Any]:
        """The SDK client's timeout and retries for `purpose`."""
        if purpose == "image":
            return {"timeout": self.image_timeout, "max_retries": self.image_max_retries}
        return {"timeout": self.timeout, "max_retries": self.max_retries}

    def _http_client(self) -> Any:
        """A new HTTP client for an SDK client (assistant/backends/http_clients.py)."""
        return make_http_client(self.http_client)

    def _client(self, purpose: Purpose) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        with self._clients_lock:
            dead = self._forget_closed_loops()
            clients = self._clients.setdefault(loop, {})
            client = clients.get(purpose)
            if client is None:
                client = clients[purpose] = self._make_client(purpose)
        if dead:
            task = loop.create_task(_close_orphans(dead))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return client

    def _forget_closed_loops(self) -> list[openai.AsyncOpenAI]:
        """Drop (and return) the clients of event loops that have closed; hold the lock."""
        dead: list[openai.AsyncOpenAI] = []
        for loop in [other for other in self._clients if other.is_closed()]:
            dead.extend(self._clients.pop(loop).values())
        return dead

    async def aclose(self) -> None:
        """Close the clients of the running loop (and those of closed loops)."""
        loop = asyncio.get_running_loop()
        with self._clients_lock:
            clients = list(self._clients.pop(loop, {}).values())
            dead = self._forget_closed_loops()
        for client in clients:
            await client.close()
        await _close_orphans(dead)

    # -- chat ------------------------------------------------------------------------

    def _chat_kwargs(self, messages: list[ChatMessage], options: ChatOptions) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": options.model or self.default_model,
            "messages": messages,
        }
        temperature = options.temperature
        if temperature is None:
            temperature = getattr(settings, "LLM_DEFAULT_TEMPERATURE", None)
        if temperature is not None:
            kwargs["temperature"] = temperature
        max_tokens = options.max_tokens
        if max_tokens is None:
            max_tokens = getattr(settings, "LLM_DEFAULT_MAX_TOKENS", None)
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if options.tools:
            kwargs["tools"] = options.tools
            if options.tool_choice is not None:
                kwargs["tool_choice"] = options.tool_choice
        return _untransformed(kwargs)

    async def _open_stream(self, kwargs: dict[str, Any]) -> tuple[Any, int]:
        """Start a streamed completion; returns its chunks and the SDK's retry count.

        Older vLLM / llama.cpp servers answer 400 to `stream_options`; then the request is
        sent once more without it and the backend stops asking for streamed usage.
        """
        completions = self._client("chat").chat.completions
        if self.stream_usage_supported:
            try:
                raw = await completions.with_raw_response.create(
                    **kwargs, stream=True, stream_options={"include_usage": True}
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if "stream_options" not in f"{exc.message} {exc.body}":
                    raise
                self.stream_usage_supported = False
                logger.warning(
                    "llm_stream_options_unsupported",
                    extra={"provider": self.provider, "model": kwargs["model"]},
                )
            else:
                return ChunkStream(raw.http_response), raw.retries_taken
        raw = await completions.with_raw_response.create(**kwargs, stream=True)
        return ChunkStream(raw.http_response), raw.retries_taken

    async def stream_chat(
        self, *, messages: list[ChatMessage], options: ChatOptions
    ) -> AsyncIterator[StreamEvent]:
        """Stream one round: TextDelta*, ToolCallsRequested?, StreamEnd (or an LLMError)."""
        kwargs = self._chat_kwargs(messages, options)
        calls: dict[int, _PartialToolCall] = {}
        finish_reason: str | None = None
        with CallLog(
            provider=self.provider,
            model=kwargs["model"],
            stream=True,
            prompt=last_user_text(messages),
        ) as log:
            try:
                stream, log.retries = await self._open_stream(kwargs)
                try:
                    async for chunk in stream:
                        model = chunk.get("model")
                        if model and log.model == kwargs["model"]:
                            log.model = model  # Azure's first chunk has model ""
                        if chunk.get("usage"):
                            log.usage = _usage_of(chunk["usage"])
                        for choice in chunk.get("choices") or ():  # none on usage chunks
                            if choice.get("index"):
                                continue  # n=1: only the first choice exists
                            delta = choice.get("delta") or {}
                            content = delta.get("content")
                            if content:
                                log.first_token()
                                log.reply_parts.append(content)
                                yield TextDelta(content)
                            if delta.get("tool_calls"):
                                _collect_tool_fragments(calls, delta["tool_calls"])
                            if choice.get("finish_reason"):
                                finish_reason = choice["finish_reason"]
                finally:
                    await stream.close()
            except openai.OpenAIError as exc:
                log.retries = max(log.retries, _retries_of(exc))
                raise self._map_error(
                    exc, "chat", images_sent=_has_image_parts(messages)
                ) from _cause(exc)
            if finish_reason == "content_filter":
                raise ContentFiltered("The provider's content filter stopped the reply.")
            tool_calls = _assemble(calls)
            if tool_calls and finish_reason in (None, "stop"):
                finish_reason = "tool_calls"  # some compatible servers say "stop"
            if tool_calls:
                yield ToolCallsRequested(tool_calls)
            log.ok()  # the call is complete: a caller that stops after StreamEnd is no cancel
            yield StreamEnd(
                finish_reason=finish_reason or "stop",
                usage=log.usage,
                model=log.model,
                retries=log.retries,
            )

    async def complete_chat(
        self, *, messages: list[ChatMessage], options: ChatOptions
    ) -> Completion:
        """One round without streaming."""
        kwargs = self._chat_kwargs(messages, options)
        with CallLog(
            provider=self.provider,
            model=kwargs["model"],
            stream=False,
            prompt=last_user_text(messages),
        ) as log:
            try:
                raw = await self._client("chat").chat.completions.with_raw_response.create(**kwargs)
                log.retries = raw.retries_taken
                completion = raw.parse()
            except openai.OpenAIError as exc:
                log.retries = max(log.retries, _retries_of(exc))
                raise self._map_error(
                    exc, "chat", images_sent=_has_image_parts(messages)
                ) from _cause(exc)
            log.model = completion.model or log.model
            log.usage = _usage(completion.usage) if completion.usage else None
            if not completion.choices:
                raise UpstreamError("The language model provider returned no answer.")
            choice = completion.choices[0]
            content = choice.message.content or ""
            log.reply = content
            if choice.finish_reason == "content_filter":
                raise ContentFiltered("The provider's content filter stopped the reply.")
            tool_calls = tuple(
                ToolCall(
                    id=call.id or f"call_{index}",
                    name=call.function.name,
                    arguments=call.function.arguments or "",
                )
                for index, call in enumerate(choice.message.tool_calls or [])
                if getattr(call, "function", None) is not None
            )
            finish_reason = choice.finish_reason or "stop"
            if tool_calls and finish_reason == "stop":
                finish_reason = "tool_calls"
            return Completion(
                content=content,
                tool_calls=tool_calls,
                finish_reason=finish_reason,
                usage=log.usage,
                model=log.model,
                retries=log.retries,
            )

    # -- relaying a client's request (the OpenAI-compatible routes) --------------------

    async def relay_stream(
        self, *, body: dict[str, Any]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The provider's chunks of `body` as they come: parsed once with `json.loads`,
        never through the SDK's models; the SDK still makes the request (auth, Azure's
        URLs, retries before the first byte)."""
        completions = self._client("chat").chat.completions
        try:
            raw = await completions.with_raw_response.create(**body)
        except openai.OpenAIError as exc:
            raise self._relay_error(exc) from _cause(exc)
        stream = ChunkStream(raw.http_response)
        try:
            async for pair in stream.pairs():
                yield pair
        except openai.OpenAIError as exc:
            raise self._relay_error(exc) from _cause(exc)
        finally:
            await stream.close()

    async def relay_complete(self, *, body: dict[str, Any]) -> dict[str, Any]:
        completions = self._client("chat").chat.completions
        try:
            raw = await completions.with_raw_response.create(**body)
            completion = raw.http_response.json()
        except openai.OpenAIError as exc:
            raise self._relay_error(exc) from _cause(exc)
        except ValueError:
            raise UpstreamError(
                "The language model provider answered something not JSON."
            ) from None
        if not isinstance(completion, dict):
            raise UpstreamError("The language model provider returned no answer.")
        return completion

    def _relay_error(self, exc: openai.OpenAIError) -> LLMError:
        """As `_map_error`, except that the provider's refusal of the caller's parameters
        (400, 422) goes back to the caller with the provider's message."""
        if isinstance(
            exc, openai.BadRequestError | openai.UnprocessableEntityError
        ) and not _is_content_filter(exc):
            body = exc.body if isinstance(exc.body, dict) else {}
            param = body.get("param") if isinstance(body.get("param"), str) else None
            message = body.get("message") if isinstance(body.get("message"), str) else None
            return ProviderRejected(message, status=exc.status_code, param=param)
        return self._map_error(exc, "chat")

    # -- images ----------------------------------------------------------------------

    async def generate_image(self, *, prompt: str, size: str) -> GeneratedImageData:
        """Generate one image; b64 bytes when the model returns them, else the provider URL."""
        kwargs: dict[str, Any] = {"model": self.image_model, "prompt": prompt, "size": size, "n": 1}
        # gpt-image models always answer b64_json and reject the parameter; DALL·E needs it.
        if "gpt-image" not in self.image_model.lower():
            kwargs["response_format"] = "b64_json"
        with CallLog(
            provider=self.provider,
            model=self.image_model,
            stream=False,
            prompt=prompt,
            operation="image",
        ) as log:
            try:
                raw = await self._client("image").images.with_raw_response.generate(**kwargs)
                log.retries = raw.retries_taken
                result = raw.parse()
            except openai.OpenAIError as exc:
                log.retries = max(log.retries, _retries_of(exc))
                raise self._map_error(exc, "image") from _cause(exc)
            item = result.data[0] if result.data else None
            if item is None or not (item.b64_json or item.url):
                raise UpstreamError("The image provider returned no image.")
            try:
                data = base64.b64decode(item.b64_json, validate=True) if item.b64_json else None
            except (binascii.Error, ValueError):
                raise UpstreamError("The image provider returned undecodable data.") from None
            if result.usage is not None:
                log.usage = Usage(
                    prompt_tokens=result.usage.input_tokens or 0,
                    completion_tokens=result.usage.output_tokens or 0,
                )
            log.reply = item.revised_prompt or ""
            return GeneratedImageData(
                b64_bytes=data,
                url=None if data is not None else item.url,
                revised_prompt=item.revised_prompt or "",
                model=self.image_model,
                usage=log.usage,
            )

    # -- errors ----------------------------------------------------------------------

    def _map_error(
        self, exc: openai.OpenAIError, purpose: Purpose, *, images_sent: bool = False
    ) -> LLMError:
        """Our error for an SDK failure (already retried by the SDK); never echoes the key.
        `images_sent`: the request carried image parts (only then can a refusal be theirs)."""
        if isinstance(exc, openai.APITimeoutError):
            return UpstreamTimeout()
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamUnavailable()
        if isinstance(exc, openai.RateLimitError):
            return UpstreamRateLimited(retry_after=retry_after_seconds(exc.response.headers))
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            # The provider's message can quote part of the key: not a word of it goes out.
            return UpstreamError(
                f"The language model provider rejected the credentials "
                f"(HTTP {exc.status_code}); check the API key configuration "
                f"({self.API_KEY_SETTINGS[purpose]})."
            )
        if isinstance(exc, openai.APIStatusError):
            if _is_content_filter(exc):
                return ContentFiltered(_content_filter_detail(exc))
            if purpose == "chat" and images_sent and _is_image_refusal(exc):
                return ImagesRefused()
            if exc.status_code == 404:
                return UpstreamError(
                    "The language model provider answered HTTP 404; check the model or "
                    f"deployment name ({self.MODEL_SETTINGS[purpose]}) and the endpoint."
                )
            return UpstreamError(f"The language model provider answered HTTP {exc.status_code}.")
        if isinstance(exc, openai.APIError):  # an error event inside a 200 stream
            return UpstreamError("The language model provider reported an error mid-reply.")
        return UpstreamError()


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date)."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _usage(usage: Any) -> Usage:
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0
    )


def _usage_of(usage: dict[str, Any]) -> Usage:
    """`Usage` from a streamed chunk's usage object."""
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
    )


def _untransformed(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`create()`'s arguments with everything but the model in `extra_body`.

    The SDK walks every argument of `create()` through its TypedDict annotations before
    sending it (openai._utils._transform): about 0.1 ms of CPU per message and 0.25 ms for
    the tools' schemas, on every model call and before its first token. Ours are plain JSON
    already, which that walk would give back unchanged; `extra_body` is merged into the
    same JSON body as it is. `messages` must still be given (it is required): empty, and
    replaced by extra_body's. `model` stays a real argument: Azure's client builds the
    deployment's URL from it. The request on the wire is the same.
    """
    body = dict(kwargs)
    return {"model": body.pop("model"), "messages": [], "extra_body": body}


def _collect_tool_fragments(
    calls: dict[int, _PartialToolCall], fragments: list[dict[str, Any]]
) -> None:
    """Accumulate streamed tool-call pieces (chunk dicts) by their `index`."""
    for fragment in fragments:
        index = fragment.get("index")
        if index is None:  # some compatible servers omit it: a new id starts a new call
            index = len(calls) if (fragment.get("id") or not calls) else max(calls)
        partial = calls.setdefault(index, _PartialToolCall())
        if fragment.get("id"):
            partial.id = fragment["id"]
        function = fragment.get("function") or {}
        if function.get("name"):
            partial.name = function["name"]
        if function.get("arguments"):
            partial.arguments.append(function["arguments"])


def _assemble(calls: dict[int, _PartialToolCall]) -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(
            id=partial.id or f"call_{index}",
            name=partial.name,
            arguments="".join(partial.arguments),
        )
        for index, partial in sorted(calls.items())
        if partial.name
    )


def _retries_of(exc: openai.OpenAIError) -> int:
    """The SDK's retry count for a failed call: the header it put on the last attempt."""
    request = getattr(exc, "request", None)
    try:
        return int(request.headers.get("x-stainless-retry-count", "0")) if request else 0
    except (TypeError, ValueError):
        return 0


def _cause(exc: openai.OpenAIError) -> BaseException | None:
    # Credentials errors are not chained: the provider's text may quote part of the key and
    # would reach any log that prints the traceback.
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return None
    return exc


def _has_image_parts(messages: Any) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in messages or ()
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
    )


def _is_image_refusal(exc: openai.APIStatusError) -> bool:
    """A 400/422 about images: what OpenAI ("image_url is only supported by certain
    models"), Azure and compatible servers ("not a multimodal model") answer a model that
    cannot read the image parts it was sent. Asked only when the request carried image
    parts (a user's images): any other 400 that mentions "image" is not about them."""
    if exc.status_code not in (400, 422):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    fields = [str(inner.get(key) or "") for key in ("message", "code", "param", "type")]
    text = " ".join([exc.message or "", *fields]).lower()
    return "image" in text or "multimodal" in text or "vision" in text


def _is_content_filter(exc: openai.APIStatusError) -> bool:
    if exc.code in _CONTENT_FILTER_CODES:
        return True
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("innererror")
    return isinstance(inner, dict) and inner.get("code") == "ResponsibleAIPolicyViolation"


def _content_filter_detail(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("innererror") if isinstance(body.get("innererror"), dict) else {}
    results = inner.get("content_filter_result") or {}
    categories = sorted(
        name
        for name, result in results.items()
        if isinstance(result, dict) and result.get("filtered")
    )
    if categories:
        return (
            "The provider's content filter refused the prompt "
            f"(categories: {', '.join(categories)})."
        )
    return ContentFiltered.default_detail


async def _close_orphans(clients: list[openai.AsyncOpenAI]) -> None:
    """Close SDK clients whose event loop has closed, as far as that is possible."""
    for client in clients:
        try:
            await client.close()
        except Exception:  # noqa: BLE001 - its transports belong to a closed loop
            logger.debug("llm_client_close_after_loop_failed", exc_info=True)
