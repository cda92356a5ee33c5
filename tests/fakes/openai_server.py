"""A real loopback fake of the OpenAI-compatible HTTP API (OpenAI, Azure classic, Azure v1).

A LoopbackServer: aiohttp on 127.0.0.1 (ephemeral port) in a background thread with its
own event loop, so it can be used from sync tests, async tests, Django live servers and
subprocesses alike. The real ``openai`` SDK talks to it over the wire.

    with FakeOpenAIServer() as server:
        server.enqueue(reply("Hello!"), error(429, headers={"retry-after-ms": "1"}))
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        assert server.chat_requests()[0].json["model"] == "gpt-4o-mini"

Chat completion requests consume the FIFO queue filled by ``enqueue``; image generation
requests consume the separate ``enqueue_image`` queue. With an empty queue, chat answers
``"echo: <last user message>"`` and images answer a tiny PNG as ``b64_json``.

Everything is deterministic: ids are counters per server instance and ``created`` is a
fixed timestamp. Nothing is shared between server instances.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import inspect
import json
import re
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback_server import LoopbackServer

__all__ = [
    "FIXED_CREATED",
    "BrokenStream",
    "ErrorResponse",
    "FakeOpenAIServer",
    "FakeResponse",
    "PATH_PARAMS",
    "Hang",
    "ImageResult",
    "RawResponse",
    "RecordedRequest",
    "Reply",
    "StreamError",
    "ToolCalls",
    "azure_content_filter_error",
    "broken_stream",
    "content_filter_finish",
    "error",
    "hang",
    "image_b64",
    "image_url",
    "invalid_api_key_error",
    "raw",
    "rate_limit_error",
    "reply",
    "stream_error",
    "tiny_png",
    "tool_calls",
]

FIXED_CREATED = 1_700_000_000
DEFAULT_MODEL = "gpt-4o-mini"
SYSTEM_FINGERPRINT = "fp_fake0000"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# ``request[PATH_PARAMS]`` holds the ``{name}`` segments matched by an ``add_route`` path.
PATH_PARAMS: web.RequestKey[dict[str, str]] = web.RequestKey("path_params", dict)

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def tiny_png(width: int = 1, height: int = 1, color: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """Return a valid RGB PNG of the given size filled with ``color`` (no Pillow needed)."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be >= 1")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, truecolour RGB
    row = b"\x00" + bytes(color) * width  # filter type 0 + pixels
    idat = zlib.compress(row * height, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def approx_tokens(text: str) -> int:
    """Deterministic, roughly realistic token count (~4 characters per token)."""
    return max(1, (len(text) + 3) // 4)


def _split(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def _message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _usage_dict(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _openai_error_body(
    message: str, type_: str | None, code: str | None = None, param: str | None = None
) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_DEFAULT_ERROR_BODIES: dict[int, tuple[str, str | None, str | None]] = {
    400: ("Bad request (fake).", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: sk-****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to access this resource (fake).", "invalid_request_error", None),
    404: (
        "The model `missing` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached (fake). Please try again shortly.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


# --------------------------------------------------------------------------------------
# recorded requests
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case keys
    json: Any | None
    body: bytes = b""
    kind: str = "other"  # "chat" | "image" | "other"
    # "openai" (/v1/...) | "azure" (/openai/deployments/{d}/...) | "azure_v1" (/openai/v1/...)
    flavor: str | None = None
    deployment: str | None = None  # Azure classic deployment name from the path

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and self.json.get("stream") is True

    @property
    def retry_count(self) -> int:
        """Value of the SDK's ``x-stainless-retry-count`` header (0 for the first attempt)."""
        return int(self.headers.get("x-stainless-retry-count", "0") or 0)

    @property
    def messages(self) -> list[dict]:
        return list(self.json.get("messages") or []) if isinstance(self.json, dict) else []


@dataclass
class _Ctx:
    request: web.Request
    recorded: RecordedRequest
    server: FakeOpenAIServer
    completion_id: str
    model: str
    stream: bool
    include_usage: bool
    azure_quirks: bool

    def base_chunk(self, choices: list[dict], **extra: Any) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": FIXED_CREATED,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        chunk.update(extra)
        return chunk

    def default_usage(self, completion_text: str) -> tuple[int, int]:
        prompt = (
            sum(approx_tokens(_message_text(m.get("content"))) + 3 for m in self.recorded.messages)
            or 1
        )
        return prompt, approx_tokens(completion_text) if completion_text else 1


# --------------------------------------------------------------------------------------
# response builders
# --------------------------------------------------------------------------------------


class FakeResponse:
    """Base class of scripted responses. Subclasses implement ``render``."""

    async def render(self, ctx: _Ctx) -> web.StreamResponse:  # pragma: no cover - abstract
        raise NotImplementedError


ResponseLike = FakeResponse | Callable[[RecordedRequest], FakeResponse]


async def _prepare_sse(ctx: _Ctx, status: int = 200) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=status,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "x-request-id": ctx.server._next_request_id(),
        },
    )
    resp.enable_chunked_encoding()
    await resp.prepare(ctx.request)
    return resp


async def _send_event(resp: web.StreamResponse, data: Any) -> None:
    payload = data if isinstance(data, str) else _dumps(data)
    await resp.write(f"data: {payload}\n\n".encode())


def _json_response(
    ctx: _Ctx, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    hdrs = {"x-request-id": ctx.server._next_request_id()}
    hdrs.update(headers or {})
    return web.Response(
        status=status, text=_dumps(body), content_type="application/json", headers=hdrs
    )


def _abort(ctx: _Ctx) -> web.StreamResponse:
    """Kill the TCP connection (no [DONE], no chunked terminator)."""
    transport = ctx.request.transport
    if transport is not None:
        transport.abort()
    # aiohttp ignores ConnectionError while finishing a response on a dead transport.
    return web.Response(status=500)


def _azure_prompt_filter_chunk() -> dict[str, Any]:
    # Azure classic streams begin with this chunk: empty choices, empty id/model/object.
    return {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [
            {
                "prompt_index": 0,
                "content_filter_results": {
                    name: {"filtered": False, "severity": "safe"}
                    for name in ("hate", "self_harm", "sexual", "violence")
                },
            }
        ],
    }


@dataclass
class Reply(FakeResponse):
    content: str
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); None = computed
    model: str | None = None
    chunks: list[str] | None = None  # streamed pieces; default: ~3-char pieces
    interval: float = 0.0  # seconds between streamed chunks
    delay: float = 0.0  # seconds before anything (headers) is sent
    headers: dict[str, str] = field(default_factory=dict)

    def _usage(self, ctx: _Ctx) -> tuple[int, int]:
        return self.usage if self.usage is not None else ctx.default_usage(self.content)

    def _pieces(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else _split(self.content)

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        if self.model:
            ctx.model = self.model
        if self.delay and not await ctx.server._sleep(self.delay):
            return _abort(ctx)
        if not ctx.stream:
            return _json_response(ctx, self._completion(ctx), headers=self.headers)
        resp = await _prepare_sse(ctx)
        if ctx.azure_quirks:
            await _send_event(resp, _azure_prompt_filter_chunk())
        await _send_event(
            resp, ctx.base_chunk([_choice({"role": "assistant", "content": "", "refusal": None})])
        )
        for i, piece in enumerate(self._pieces()):
            if i and self.interval and not await ctx.server._sleep(self.interval):
                return _abort(ctx)
            await _send_event(resp, ctx.base_chunk([_choice({"content": piece})]))
        await _send_event(resp, ctx.base_chunk([_choice({}, self.finish_reason)]))
        if ctx.include_usage:
            await _send_event(resp, ctx.base_chunk([], usage=_usage_dict(*self._usage(ctx))))
        await _send_event(resp, "[DONE]")
        await resp.write_eof()
        return resp

    def _message(self) -> dict[str, Any]:
        return {"role": "assistant", "content": self.content, "refusal": None, "annotations": []}

    def _completion(self, ctx: _Ctx) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "message": self._message(),
            "logprobs": None,
            "finish_reason": self.finish_reason,
        }
        body: dict[str, Any] = {
            "id": ctx.completion_id,
            "object": "chat.completion",
            "created": FIXED_CREATED,
            "model": ctx.model,
            "choices": [choice],
            "usage": _usage_dict(*self._usage(ctx)),
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        if ctx.azure_quirks:
            body["prompt_filter_results"] = _azure_prompt_filter_chunk()["prompt_filter_results"]
        return body


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


@dataclass
class ToolCalls(Reply):
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments_json)
    args_chunk_size: int = 8

    def _pieces(self) -> list[str]:
        return [] if not self.content else super()._pieces()

    def _usage(self, ctx: _Ctx) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        text = (self.content or "") + "".join(name + args for _, name, args in self.calls)
        return ctx.default_usage(text)

    def _message(self) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": self.content or None,
            "refusal": None,
            "annotations": [],
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
                for call_id, name, args in self.calls
            ],
        }

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        if self.model:
            ctx.model = self.model
        if self.delay and not await ctx.server._sleep(self.delay):
            return _abort(ctx)
        if not ctx.stream:
            return _json_response(ctx, self._completion(ctx), headers=self.headers)
        resp = await _prepare_sse(ctx)
        if ctx.azure_quirks:
            await _send_event(resp, _azure_prompt_filter_chunk())
        await _send_event(
            resp,
            ctx.base_chunk(
                [
                    _choice(
                        {
                            "role": "assistant",
                            "content": None if not self.content else "",
                            "refusal": None,
                        }
                    )
                ]
            ),
        )
        deltas: list[dict[str, Any]] = [{"content": piece} for piece in self._pieces()]
        for index, (call_id, name, args) in enumerate(self.calls):
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
            for fragment in _split(args, self.args_chunk_size):
                deltas.append(
                    {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                )
        for i, delta in enumerate(deltas):
            if i and self.interval and not await ctx.server._sleep(self.interval):
                return _abort(ctx)
            await _send_event(resp, ctx.base_chunk([_choice(delta)]))
        await _send_event(resp, ctx.base_chunk([_choice({}, self.finish_reason)]))
        if ctx.include_usage:
            await _send_event(resp, ctx.base_chunk([], usage=_usage_dict(*self._usage(ctx))))
        await _send_event(resp, "[DONE]")
        await resp.write_eof()
        return resp


@dataclass
class ErrorResponse(FakeResponse):
    status: int
    body: dict | str | None = None
    headers: dict[str, str] | None = None

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        body = self.body
        if body is None:
            message, type_, code = _DEFAULT_ERROR_BODIES.get(
                self.status,
                (
                    f"Fake error {self.status}.",
                    "server_error" if self.status >= 500 else None,
                    None,
                ),
            )
            body = _openai_error_body(message, type_, code)
        if isinstance(body, str):
            hdrs = {"x-request-id": ctx.server._next_request_id(), **(self.headers or {})}
            return web.Response(
                status=self.status, text=body, content_type="text/plain", headers=hdrs
            )
        return _json_response(ctx, body, status=self.status, headers=self.headers)


@dataclass
class Hang(FakeResponse):
    seconds: float = 30.0

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        await ctx.server._sleep(self.seconds)
        return _abort(ctx)


@dataclass
class BrokenStream(FakeResponse):
    content_before_break: str
    chunks: list[str] | None = None
    stall: float = 0.0  # seconds to stall (sending nothing) before the connection is killed

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        if not ctx.stream:
            # Non-streamed request: promise a full JSON body, deliver half of it, then die.
            full = _dumps(Reply(self.content_before_break)._completion(ctx)).encode()
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            resp.content_length = len(full)
            await resp.prepare(ctx.request)
            await resp.write(full[: len(full) // 2])
        else:
            resp = await _prepare_sse(ctx)
            if ctx.azure_quirks:
                await _send_event(resp, _azure_prompt_filter_chunk())
            await _send_event(
                resp,
                ctx.base_chunk([_choice({"role": "assistant", "content": "", "refusal": None})]),
            )
            pieces = self.chunks if self.chunks is not None else _split(self.content_before_break)
            for piece in pieces:
                await _send_event(resp, ctx.base_chunk([_choice({"content": piece})]))
        if self.stall:
            await ctx.server._sleep(self.stall)
        else:
            await asyncio.sleep(0.01)  # let the partial data reach the client first
        return _abort(ctx)


@dataclass
class StreamError(FakeResponse):
    """Stream some content, then an SSE ``data: {"error": {...}}`` event (SDK raises APIError)."""

    content_before_error: str
    error_body: dict = field(
        default_factory=lambda: {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    )

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        if not ctx.stream:
            return await ErrorResponse(500, {"error": self.error_body}).render(ctx)
        resp = await _prepare_sse(ctx)
        await _send_event(
            resp, ctx.base_chunk([_choice({"role": "assistant", "content": "", "refusal": None})])
        )
        for piece in _split(self.content_before_error):
            await _send_event(resp, ctx.base_chunk([_choice({"content": piece})]))
        await _send_event(resp, {"error": self.error_body})
        await resp.write_eof()
        return resp


@dataclass
class RawResponse(FakeResponse):
    """Send exactly this status/body/headers (escape hatch for malformed responses)."""

    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        body = self.body
        content_type = self.content_type
        if isinstance(body, (dict, list)):
            body, content_type = _dumps(body).encode(), content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        return web.Response(
            status=self.status,
            body=body,
            headers=self.headers,
            content_type=content_type or "application/octet-stream",
        )


@dataclass
class ImageResult(FakeResponse):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    delay: float = 0.0  # seconds before the answer: image models take 10 to 60 s

    async def render(self, ctx: _Ctx) -> web.StreamResponse:
        if self.delay and not await ctx.server._sleep(self.delay):
            return _abort(ctx)
        item: dict[str, Any] = {}
        if self.b64_json is not None:
            item["b64_json"] = self.b64_json
        if self.url is not None:
            item["url"] = self.url
        if self.revised_prompt is not None:
            item["revised_prompt"] = self.revised_prompt
        return _json_response(ctx, {"created": FIXED_CREATED, "data": [item]})


# -- builder functions ------------------------------------------------------------------


def reply(
    content: str,
    *,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = None,
    model: str | None = None,
    chunks: list[str] | None = None,
    interval: float = 0.0,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Assistant text reply, plain or streamed depending on the request's ``stream`` flag."""
    return Reply(content, finish_reason, usage, model, chunks, interval, delay, dict(headers or {}))


def content_filter_finish(content: str = "", **kwargs: Any) -> Reply:
    """A reply whose ``finish_reason`` is ``content_filter`` (output was filtered)."""
    return reply(content, finish_reason="content_filter", **kwargs)


def tool_calls(
    calls: Sequence[tuple[str, str | dict] | tuple[str, str | dict, str]],
    *,
    content: str | None = None,
    usage: tuple[int, int] | None = None,
    model: str | None = None,
    interval: float = 0.0,
    delay: float = 0.0,
    args_chunk_size: int = 8,
) -> ToolCalls:
    """Assistant message with ``tool_calls``; each call is ``(name, arguments[, call_id])``.

    ``arguments`` may be a JSON string (sent verbatim) or a dict (JSON-encoded). Default ids
    are deterministic ``call_<24 hex>`` derived from position, name and arguments.
    """
    normalized: list[tuple[str, str, str]] = []
    for index, call in enumerate(calls):
        name, args = call[0], call[1]
        args_s = args if isinstance(args, str) else _dumps(args)
        call_id = (
            call[2]
            if len(call) > 2
            else "call_" + hashlib.sha256(f"{index}:{name}:{args_s}".encode()).hexdigest()[:24]
        )
        normalized.append((call_id, name, args_s))
    return ToolCalls(
        content=content or "",
        finish_reason="tool_calls",
        usage=usage,
        model=model,
        chunks=None,
        interval=interval,
        delay=delay,
        calls=normalized,
        args_chunk_size=args_chunk_size,
    )


def error(
    status: int, body: dict | str | None = None, headers: dict[str, str] | None = None
) -> ErrorResponse:
    """HTTP error with an OpenAI-style JSON body (a sensible default body when ``body`` is None)."""
    return ErrorResponse(status, body, dict(headers or {}))


def rate_limit_error(
    *, retry_after: str | None = "0", retry_after_ms: str | None = "1"
) -> ErrorResponse:
    """429 that the SDK retries almost immediately (it honours ``retry-after-ms`` first)."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return error(429, None, headers)


def invalid_api_key_error() -> ErrorResponse:
    return error(
        401,
        _openai_error_body(
            "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
        ),
    )


AZURE_CONTENT_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)


def azure_content_filter_error(category: str = "hate", severity: str = "high") -> ErrorResponse:
    """Azure's 400 ``content_filter`` error for a prompt that trips the content policy."""
    results = {
        name: (
            {"filtered": True, "severity": severity}
            if name == category
            else {"filtered": False, "severity": "safe"}
        )
        for name in ("hate", "jailbreak", "self_harm", "sexual", "violence")
    }
    results["jailbreak"] = (
        {"filtered": True, "detected": True}
        if category == "jailbreak"
        else {"filtered": False, "detected": False}
    )
    return error(
        400,
        {
            "error": {
                "message": AZURE_CONTENT_FILTER_MESSAGE,
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": results,
                },
            }
        },
    )


def hang(seconds: float = 30.0) -> Hang:
    """Accept the request and send nothing for ``seconds`` (then drop the connection)."""
    return Hang(seconds)


def broken_stream(
    content_before_break: str, chunks: list[str] | None = None, *, stall: float = 0.0
) -> BrokenStream:
    """Stream ``content_before_break`` then kill the TCP connection without ``[DONE]``."""
    return BrokenStream(content_before_break, chunks, stall)


def stream_error(content_before_error: str, error_body: dict | None = None) -> StreamError:
    if error_body is None:
        return StreamError(content_before_error)
    return StreamError(content_before_error, error_body)


def raw(
    status: int = 200,
    body: bytes | str | dict | list = b"",
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
) -> RawResponse:
    return RawResponse(status, body, dict(headers or {}), content_type)


def image_b64(
    png_bytes: bytes | None = None, *, revised_prompt: str | None = None, delay: float = 0.0
) -> ImageResult:
    data = png_bytes if png_bytes is not None else tiny_png()
    return ImageResult(
        b64_json=base64.b64encode(data).decode("ascii"),
        revised_prompt=revised_prompt,
        delay=delay,
    )


def image_url(url: str, *, revised_prompt: str | None = None) -> ImageResult:
    return ImageResult(url=url, revised_prompt=revised_prompt)


# --------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------

_API_RE = re.compile(
    r"^(?:(?P<openai>/v1)|(?P<azure_v1>/openai/v1)|/openai/deployments/(?P<deployment>[^/]+))"
    r"/(?P<endpoint>chat/completions|images/generations)/?$"
)
_KIND = {"chat/completions": "chat", "images/generations": "image"}


def _path_regex(path: str) -> re.Pattern[str]:
    """``/files/{name}`` -> regex with named groups; everything else matched literally."""
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", path)
    pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


class FakeOpenAIServer(LoopbackServer):
    """Loopback OpenAI/Azure OpenAI API fake. See the module docstring.

    :param api_key: if set, chat/image requests must carry ``Authorization: Bearer <key>``
        or ``api-key: <key>``, else they get a 401 ``invalid_api_key`` error.
    :param azure_quirks: on Azure routes (classic and v1) behave like Azure: streams start with
        a ``choices: []`` chunk carrying ``prompt_filter_results`` (and has empty id/model),
        non-streamed bodies carry ``prompt_filter_results``; classic routes without
        ``api-version`` answer 404 "Resource not found".
    """

    name = "FakeOpenAIServer"

    def __init__(
        self, *, api_key: str | None = None, azure_quirks: bool = True, host: str = "127.0.0.1"
    ) -> None:
        super().__init__(host=host)
        self.api_key = api_key
        self.azure_quirks = azure_quirks
        self._lock = threading.Lock()
        self._recorded_cond = threading.Condition(self._lock)
        self._chat_queue: collections.deque[ResponseLike] = collections.deque()
        self._image_queue: collections.deque[ResponseLike] = collections.deque()
        self._requests: list[RecordedRequest] = []
        # Chat requests whose client went away before the response was complete.
        self._abandoned: list[RecordedRequest] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._completion_counter = 0
        self._request_id_counter = 0
        self._stop_event: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def _startup(self) -> None:
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        await self._serve(app, backlog=1024, handler_cancellation=True)

    async def _shutdown(self) -> None:
        # Wake the handlers sleeping in _sleep first, so they end instead of being cancelled.
        if self._stop_event is not None:
            self._stop_event.set()
        await super()._shutdown()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, but wake up early when the server stops. Returns False if stopped."""
        assert self._stop_event is not None
        if self._stop_event.is_set():
            return False
        try:
            await asyncio.wait_for(self._stop_event.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return True
        return False

    # -- scripting ----------------------------------------------------------------------

    def enqueue(self, *responses: ResponseLike) -> None:
        """Queue responses for upcoming chat-completion requests (FIFO, one per request).

        A response may also be a callable ``(RecordedRequest) -> FakeResponse``.
        """
        with self._lock:
            self._chat_queue.extend(responses)

    def enqueue_image(self, *responses: ResponseLike) -> None:
        """Queue responses for upcoming image-generation requests (FIFO)."""
        with self._lock:
            self._image_queue.extend(responses)

    @property
    def pending(self) -> int:
        """Number of queued chat responses not consumed yet."""
        with self._lock:
            return len(self._chat_queue)

    @property
    def pending_images(self) -> int:
        with self._lock:
            return len(self._image_queue)

    def clear(self) -> None:
        """Forget recorded requests and queued responses (extra routes stay)."""
        with self._lock:
            self._chat_queue.clear()
            self._image_queue.clear()
            self._requests.clear()
            self._abandoned.clear()

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve an extra route. ``path`` may contain ``{name}`` segments, available to the
        handler as ``request[PATH_PARAMS]["name"]``. ``method`` may be ``"*"``.
        Extra routes take precedence over the built-in API routes and are recorded too."""
        with self._lock:
            self._routes.append((method.upper(), _path_regex(path), handler))

    def serve_bytes(
        self,
        path: str,
        data: bytes,
        content_type: str = "image/png",
        *,
        declared_length: int | None = None,
        chunk_interval: float = 0.0,
        chunk_size: int | None = None,
        chunked: bool = False,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``data`` at ``GET/HEAD path``; returns the absolute URL.

        ``declared_length`` sends that Content-Length instead of the real one (a larger value
        makes the server drop the connection after the data; a smaller one truncates the
        body). ``chunked=True`` sends no Content-Length at all. ``chunk_interval`` streams
        slowly: ``chunk_size`` bytes (default 1024 when slow, else 64 KiB) per write.
        """
        size = chunk_size or (1024 if chunk_interval else 65536)

        async def handler(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(
                status=status, headers={"Content-Type": content_type, **(headers or {})}
            )
            if chunked:
                resp.enable_chunked_encoding()
            else:
                resp.content_length = declared_length if declared_length is not None else len(data)
            await resp.prepare(request)
            if request.method == "HEAD":
                return resp
            for offset in range(0, len(data), size):
                if offset and chunk_interval and not await self._sleep(chunk_interval):
                    break
                await resp.write(data[offset : offset + size])
            if declared_length is not None and declared_length > len(data) and not chunked:
                await asyncio.sleep(0.01)
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return resp
            await resp.write_eof()
            return resp

        self.add_route("GET", path, handler)
        self.add_route("HEAD", path, handler)
        return self.url + path

    # -- inspection ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == "chat"]

    def image_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == "image"]

    def wait_for_requests(
        self, count: int, *, kind: str | None = None, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Block until ``count`` requests (of ``kind`` if given) were received; return them.

        From async code use ``await asyncio.to_thread(server.wait_for_requests, n)``.
        """

        def matching() -> list[RecordedRequest]:
            return [r for r in self._requests if kind is None or r.kind == kind]

        with self._recorded_cond:
            if not self._recorded_cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(
                    f"expected {count} requests, got {len(matching())} after {timeout}s"
                )
            return matching()

    def wait_for_abandoned(self, count: int = 1, *, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until the clients of ``count`` requests closed them before their end."""
        with self._recorded_cond:
            if not self._recorded_cond.wait_for(lambda: len(self._abandoned) >= count, timeout):
                raise AssertionError(
                    f"expected {count} abandoned requests, got {len(self._abandoned)}"
                )
            return list(self._abandoned)

    @property
    def last_chat_request(self) -> RecordedRequest:
        chats = self.chat_requests()
        if not chats:
            raise AssertionError("no chat completion request was received")
        return chats[-1]

    # -- internals ----------------------------------------------------------------------

    def _next_request_id(self) -> str:
        with self._lock:
            self._request_id_counter += 1
            return f"req_fake{self._request_id_counter:06d}"

    def _next_completion_id(self) -> str:
        with self._lock:
            self._completion_counter += 1
            return f"chatcmpl-fake{self._completion_counter:06d}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        parsed: Any | None = None
        if body:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                parsed = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = {k: v for k, v in request.query.items()}

        with self._lock:
            routes = list(self._routes)
        for method, regex, handler in routes:
            match = regex.match(request.path)
            if match and method in ("*", request.method):
                self._record(
                    RecordedRequest(request.method, request.path, query, headers, parsed, body)
                )
                request[PATH_PARAMS] = match.groupdict()
                result = handler(request)
                return await result if inspect.isawaitable(result) else result

        match = _API_RE.match(request.path)
        if not match:
            self._record(
                RecordedRequest(request.method, request.path, query, headers, parsed, body)
            )
            return web.json_response(
                _openai_error_body(
                    f"Invalid URL ({request.method} {request.path})", "invalid_request_error"
                ),
                status=404,
            )

        kind = _KIND[match["endpoint"]]
        flavor = "openai" if match["openai"] else "azure_v1" if match["azure_v1"] else "azure"
        deployment = match["deployment"]
        recorded = RecordedRequest(
            request.method, request.path, query, headers, parsed, body, kind, flavor, deployment
        )
        self._record(recorded)
        payload = parsed if isinstance(parsed, dict) else {}
        stream = payload.get("stream") is True
        stream_options = payload.get("stream_options") or {}
        ctx = _Ctx(
            request=request,
            recorded=recorded,
            server=self,
            completion_id=self._next_completion_id(),
            model=str(payload.get("model") or deployment or DEFAULT_MODEL),
            stream=stream,
            include_usage=stream
            and isinstance(stream_options, dict)
            and stream_options.get("include_usage") is True,
            azure_quirks=self.azure_quirks and flavor != "openai",
        )

        if request.method != "POST":
            return _json_response(
                ctx,
                _openai_error_body(f"Method {request.method} not allowed", "invalid_request_error"),
                405,
            )
        if self.azure_quirks and flavor == "azure" and "api-version" not in query:
            return _json_response(
                ctx, {"error": {"code": "404", "message": "Resource not found"}}, 404
            )
        if self.api_key is not None and self.api_key not in (
            headers.get("api-key"),
            headers.get("authorization", "").removeprefix("Bearer "),
        ):
            return await invalid_api_key_error().render(ctx)
        if parsed is None or not isinstance(parsed, dict):
            return _json_response(
                ctx,
                _openai_error_body(
                    "We could not parse the JSON body of your request.", "invalid_request_error"
                ),
                400,
            )

        queue = self._chat_queue if kind == "chat" else self._image_queue
        with self._lock:
            item: ResponseLike | None = queue.popleft() if queue else None
        if item is not None and not isinstance(item, FakeResponse):
            item = item(recorded)
        if item is None:
            item = self._default_response(recorded)
        try:
            return await item.render(ctx)
        except (ConnectionResetError, asyncio.CancelledError):
            # A write to a closed connection, or aiohttp cancelling the handler: the
            # client closed the request midway.
            with self._recorded_cond:
                self._abandoned.append(recorded)
                self._recorded_cond.notify_all()
            raise

    def _default_response(self, recorded: RecordedRequest) -> FakeResponse:
        if recorded.kind == "image":
            return image_b64(tiny_png())
        last_user = next(
            (
                m
                for m in reversed(recorded.messages)
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            None,
        )
        return reply("echo: " + _message_text(last_user.get("content") if last_user else ""))

    def _record(self, recorded: RecordedRequest) -> None:
        with self._recorded_cond:
            self._requests.append(recorded)
            self._recorded_cond.notify_all()
