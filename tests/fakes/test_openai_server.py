"""The loopback OpenAI fake, exercised with the real ``openai`` SDK over the wire."""

import asyncio
import base64
import json
import struct
import time
import zlib

import aiohttp
import openai
import pytest
from aiohttp import web

from tests.fakes.fixtures import fake_openai  # noqa: F401
from tests.fakes.openai_server import (
    PATH_PARAMS,
    FakeOpenAIServer,
    azure_content_filter_error,
    broken_stream,
    content_filter_finish,
    error,
    hang,
    image_b64,
    image_url,
    rate_limit_error,
    reply,
    stream_error,
    tiny_png,
    tool_calls,
)

AZURE_API_VERSION = "2025-01-01-preview"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello"},
]


def oai(server: FakeOpenAIServer, **kwargs) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5)
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", **kwargs)


def azure(server: FakeOpenAIServer, deployment: str | None = "gpt4o-prod", **kwargs):
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5)
    return openai.AsyncAzureOpenAI(
        azure_endpoint=server.url,
        api_key="azure-key",
        api_version=AZURE_API_VERSION,
        azure_deployment=deployment,
        **kwargs,
    )


async def collect(stream) -> tuple[str, list]:
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


# -- plain / streamed replies --------------------------------------------------------------


@pytest.mark.asyncio
async def test_plain_reply(fake_openai):  # noqa: F811
    fake_openai.enqueue(reply("Hello there!", usage=(12, 4)))
    async with oai(fake_openai) as client:
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.id == "chatcmpl-fake000001"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 4)
    assert completion.usage.total_tokens == 16

    [req] = fake_openai.chat_requests()
    assert (req.method, req.path, req.flavor) == ("POST", "/v1/chat/completions", "openai")
    assert req.headers["authorization"] == "Bearer sk-test"
    assert req.headers["x-stainless-retry-count"] == "0"
    assert req.json["messages"] == MESSAGES
    assert req.json["model"] == "gpt-4o-mini"
    assert req.stream is False


@pytest.mark.asyncio
async def test_default_reply_echoes_last_user_message(fake_openai):  # noqa: F811
    async with oai(fake_openai) as client:
        plain = await client.chat.completions.create(model="m", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": [{"type": "text", "text": "multi part"}]}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks = await collect(stream)

    assert plain.choices[0].message.content == "echo: Say hello"
    assert plain.usage.prompt_tokens > 0 and plain.usage.completion_tokens > 0
    assert text == "echo: multi part"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert fake_openai.pending == 0


@pytest.mark.asyncio
async def test_streamed_reply_concatenates(fake_openai):  # noqa: F811
    content = "Streaming works, even with ünïcödé ✓."
    fake_openai.enqueue(reply(content), reply("abc", chunks=["a", "bc"], interval=0.01))
    async with oai(fake_openai) as client:
        text, chunks = await collect(
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        )
        text2, chunks2 = await collect(
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        )

    assert text == content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.usage is None for c in chunks)  # no usage chunk unless requested
    assert len(chunks) > 5
    assert text2 == "abc"
    assert [c.choices[0].delta.content for c in chunks2[1:3]] == ["a", "bc"]
    assert fake_openai.chat_requests()[0].stream is True


@pytest.mark.asyncio
async def test_usage_chunk_with_include_usage(fake_openai):  # noqa: F811
    fake_openai.enqueue(reply("counted", usage=(30, 7)))
    async with oai(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks = await collect(stream)

    assert text == "counted"
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (30, 7)
    assert last.usage.total_tokens == 37
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert fake_openai.last_chat_request.json["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_content_filter_finish_reason(fake_openai):  # noqa: F811
    fake_openai.enqueue(content_filter_finish("Partial"), content_filter_finish("Part"))
    async with oai(fake_openai) as client:
        plain = await client.chat.completions.create(model="m", messages=MESSAGES)
        text, chunks = await collect(
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        )
    assert plain.choices[0].finish_reason == "content_filter"
    assert text == "Part"
    assert chunks[-1].choices[0].finish_reason == "content_filter"


# -- tool calls ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_streamed_parallel_tool_calls_reassemble(fake_openai):  # noqa: F811
    fake_openai.enqueue(
        tool_calls(
            [
                ("get_weather", {"city": "Tokyo", "unit": "celsius"}),
                ("web_search", '{"query": "kaiwa meaning", "max_results": 5}'),
            ]
        )
    )
    async with oai(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, tools=[], stream=True
        )
        calls: dict[int, dict] = {}
        finish = None
        async for chunk in stream:
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments

    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Tokyo", "unit": "celsius"}
    assert calls[1]["name"] == "web_search"
    assert json.loads(calls[1]["arguments"]) == {"query": "kaiwa meaning", "max_results": 5}
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert calls[0]["id"] != calls[1]["id"]


@pytest.mark.asyncio
async def test_plain_tool_calls(fake_openai):  # noqa: F811
    fake_openai.enqueue(tool_calls([("lookup", {"id": 7}, "call_fixed")], content="Let me check."))
    async with oai(fake_openai) as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me check."
    [call] = message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_fixed", "function", "lookup")
    assert json.loads(call.function.arguments) == {"id": 7}


# -- errors, retries, timeouts ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_429_retried_then_success(fake_openai):  # noqa: F811
    # retry-after "0" alone is NOT honoured (falls back to 0.5s+ backoff); retry-after-ms is.
    fake_openai.enqueue(
        error(429, headers={"retry-after": "0", "retry-after-ms": "1"}),
        rate_limit_error(),
        reply("finally"),
    )
    async with oai(fake_openai, max_retries=2) as client:
        started = time.monotonic()
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        elapsed = time.monotonic() - started

    assert completion.choices[0].message.content == "finally"
    reqs = fake_openai.chat_requests()
    assert len(reqs) == 3
    assert [r.retry_count for r in reqs] == [0, 1, 2]
    assert elapsed < 0.4


@pytest.mark.asyncio
async def test_retry_after_zero_falls_back_to_backoff(fake_openai):  # noqa: F811
    fake_openai.enqueue(error(429, headers={"retry-after": "0"}), reply("ok"))
    async with oai(fake_openai, max_retries=1) as client:
        started = time.monotonic()
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.35  # INITIAL_RETRY_DELAY 0.5s minus up to 25% jitter


@pytest.mark.asyncio
async def test_429_exhausted_raises_rate_limit_error(fake_openai):  # noqa: F811
    fake_openai.enqueue(rate_limit_error(), rate_limit_error())
    async with oai(fake_openai, max_retries=1) as client:
        with pytest.raises(openai.RateLimitError) as exc_info:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    err = exc_info.value
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded"
    assert err.response.headers["retry-after-ms"] == "1"
    assert len(fake_openai.chat_requests()) == 2


@pytest.mark.asyncio
async def test_500_maps_to_internal_server_error_after_retries(fake_openai):  # noqa: F811
    fast = {"retry-after-ms": "1"}
    fake_openai.enqueue(
        error(500, headers=fast), error(500, headers=fast), error(500, headers=fast)
    )
    async with oai(fake_openai, max_retries=2) as client:
        with pytest.raises(openai.InternalServerError) as exc_info:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    err = exc_info.value
    assert err.status_code == 500
    assert err.type == "server_error"
    assert err.request_id.startswith("req_fake")
    assert isinstance(err.body, dict) and "message" in err.body  # body is the inner "error"
    assert len(fake_openai.chat_requests()) == 3


@pytest.mark.asyncio
async def test_400_is_not_retried_and_401_invalid_key(fake_openai):  # noqa: F811
    fake_openai.enqueue(
        error(
            401,
            {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        ),
    )
    async with oai(fake_openai, max_retries=3) as client:
        with pytest.raises(openai.AuthenticationError) as exc_info:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert exc_info.value.code == "invalid_api_key"
    assert exc_info.value.message == "Error code: 401 - Incorrect API key provided"
    assert len(fake_openai.chat_requests()) == 1


@pytest.mark.asyncio
async def test_server_api_key_enforcement():
    with FakeOpenAIServer(api_key="sk-right") as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-wrong", max_retries=0
        ) as client:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model="m", messages=MESSAGES)
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-right", max_retries=0
        ) as client:
            ok = await client.chat.completions.create(model="m", messages=MESSAGES)
        assert ok.choices[0].message.content == "echo: Say hello"


@pytest.mark.asyncio
async def test_hang_raises_timeout(fake_openai):  # noqa: F811
    fake_openai.enqueue(hang(30))
    async with oai(fake_openai, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert time.monotonic() - started < 2
    assert len(fake_openai.chat_requests()) == 1


@pytest.mark.asyncio
async def test_stop_does_not_hang_while_hanging_and_streaming():
    server = FakeOpenAIServer().start()
    server.enqueue(hang(60), reply("x" * 300, interval=1.0))
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=30)
    hanging = asyncio.create_task(client.chat.completions.create(model="m", messages=MESSAGES))
    await asyncio.to_thread(server.wait_for_requests, 1)
    slow = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    first = await slow.__anext__()
    assert first.choices[0].delta.role == "assistant"
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    assert time.monotonic() - started < 2
    assert not server.running
    with pytest.raises(openai.APIConnectionError):
        await hanging
    with pytest.raises(openai.APIConnectionError):
        async for _ in slow:
            pass
    await client.close()


@pytest.mark.asyncio
async def test_broken_stream_raises_after_partial_content(fake_openai):  # noqa: F811
    fake_openai.enqueue(broken_stream("Hello, this is par"))
    received = []
    async with oai(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIConnectionError) as exc_info:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "Hello, this is par"
    # not a timeout: the peer closed mid-body (httpx2.RemoteProtocolError underneath)
    assert type(exc_info.value) is openai.APIConnectionError
    assert "RemoteProtocolError" in type(exc_info.value.__cause__).__name__


@pytest.mark.asyncio
async def test_stalled_stream_hits_read_timeout(fake_openai):  # noqa: F811
    fake_openai.enqueue(broken_stream("Hel", stall=10))
    async with oai(fake_openai, timeout=0.5) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APITimeoutError):
            async for _ in stream:
                pass


@pytest.mark.asyncio
async def test_error_event_inside_stream_raises_api_error(fake_openai):  # noqa: F811
    fake_openai.enqueue(stream_error("Partial"))
    async with oai(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIError) as exc_info:
            async for _ in stream:
                pass
    assert not isinstance(exc_info.value, openai.APIStatusError)
    assert exc_info.value.type == "server_error"


# -- Azure ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_azure_content_filter_error(fake_openai):  # noqa: F811
    fake_openai.enqueue(azure_content_filter_error())
    async with azure(fake_openai, max_retries=2) as client:
        with pytest.raises(openai.BadRequestError) as exc_info:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    err = exc_info.value
    assert err.status_code == 400
    assert err.code == "content_filter"
    assert err.param == "prompt"
    assert err.body["code"] == "content_filter"
    assert err.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert err.body["innererror"]["content_filter_result"]["hate"] == {
        "filtered": True,
        "severity": "high",
    }
    assert len(fake_openai.chat_requests()) == 1  # 400 is never retried


@pytest.mark.asyncio
async def test_azure_classic_path_deployment_and_api_version(fake_openai):  # noqa: F811
    fake_openai.enqueue(reply("from azure"), reply("streamed azure"))
    async with azure(fake_openai, deployment="gpt4o-prod") as client:
        completion = await client.chat.completions.create(model="ignored", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="ignored",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks = await collect(stream)

    assert completion.choices[0].message.content == "from azure"
    assert text == "streamed azure"
    # Azure quirk: first streamed chunk has no choices (prompt_filter_results only)
    assert chunks[0].choices == []
    assert chunks[-1].choices == [] and chunks[-1].usage is not None

    req = fake_openai.chat_requests()[0]
    assert req.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert req.deployment == "gpt4o-prod"
    assert req.flavor == "azure"
    assert req.query == {"api-version": AZURE_API_VERSION}
    assert req.api_version == AZURE_API_VERSION
    assert req.headers["api-key"] == "azure-key"
    assert "authorization" not in req.headers


@pytest.mark.asyncio
async def test_azure_without_deployment_uses_model_as_deployment(fake_openai):  # noqa: F811
    async with azure(fake_openai, deployment=None) as client:
        await client.chat.completions.create(model="my-deploy", messages=MESSAGES)
        await client.images.generate(model="dalle-deploy", prompt="a cat")
    chat, image = fake_openai.requests
    assert chat.path == "/openai/deployments/my-deploy/chat/completions"
    assert image.path == "/openai/deployments/dalle-deploy/images/generations"
    assert image.kind == "image" and image.api_version == AZURE_API_VERSION


@pytest.mark.asyncio
async def test_azure_v1_endpoint(fake_openai):  # noqa: F811
    fake_openai.enqueue(reply("v1 says hi"))
    async with openai.AsyncOpenAI(
        base_url=fake_openai.url + "/openai/v1/", api_key="azure-key", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(model="gpt4o-prod", messages=MESSAGES)
    assert completion.choices[0].message.content == "v1 says hi"
    [req] = fake_openai.chat_requests()
    assert req.path == "/openai/v1/chat/completions"
    assert req.flavor == "azure_v1"
    assert req.query == {}
    assert req.headers["authorization"] == "Bearer azure-key"
    assert req.json["model"] == "gpt4o-prod"


# -- images & extra routes ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_images(fake_openai):  # noqa: F811
    png = tiny_png(4, 3, color=(0, 128, 255))
    fake_openai.enqueue_image(
        image_b64(png, revised_prompt="A cute cat"),
        image_url(fake_openai.url + "/files/cat.png"),
        error(400, azure_content_filter_error().body),
    )
    async with oai(fake_openai) as client:
        first = await client.images.generate(model="dall-e-3", prompt="cat")
        second = await client.images.generate(model="dall-e-3", prompt="cat")
        with pytest.raises(openai.BadRequestError):
            await client.images.generate(model="dall-e-3", prompt="cat")
        default = await client.images.generate(model="gpt-image-1", prompt="dog")

    assert base64.b64decode(first.data[0].b64_json) == png
    assert first.data[0].revised_prompt == "A cute cat"
    assert second.data[0].url.endswith("/files/cat.png")
    assert base64.b64decode(default.data[0].b64_json).startswith(b"\x89PNG\r\n\x1a\n")
    assert [r.json["prompt"] for r in fake_openai.image_requests()] == ["cat", "cat", "cat", "dog"]
    assert fake_openai.chat_requests() == []


def test_tiny_png_is_valid():
    data = tiny_png(3, 2, color=(1, 2, 3))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        pos += 12 + length
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (3, 2)
    assert zlib.decompress(chunks[b"IDAT"]) == (b"\x00" + bytes([1, 2, 3]) * 3) * 2
    assert b"IEND" in chunks


@pytest.mark.asyncio
async def test_serve_bytes_and_custom_routes(fake_openai):  # noqa: F811
    payload = tiny_png(8, 8)
    url = fake_openai.serve_bytes("/files/cat.png", payload)
    fake_openai.serve_bytes("/files/liar.png", payload, declared_length=len(payload) + 1000)
    fake_openai.serve_bytes(
        "/files/slow.bin", b"x" * 4096, "application/octet-stream", chunk_interval=0.02
    )
    fake_openai.serve_bytes("/files/nolen.bin", b"y" * 10, chunked=True)

    async def search(request: web.Request) -> web.Response:
        q = request.query.get("q", "")
        return web.json_response({"query": q, "results": [{"title": f"About {q}", "url": "u"}]})

    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": request[PATH_PARAMS]["item_id"]})

    fake_openai.add_route("GET", "/search", search)
    fake_openai.add_route("GET", "/items/{item_id}", item)

    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "image/png"
            assert await resp.read() == payload
        async with session.get(fake_openai.url + "/files/liar.png") as resp:
            assert int(resp.headers["Content-Length"]) == len(payload) + 1000
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        started = time.monotonic()
        async with session.get(fake_openai.url + "/files/slow.bin") as resp:
            assert await resp.read() == b"x" * 4096
        assert time.monotonic() - started >= 0.05
        async with session.get(fake_openai.url + "/files/nolen.bin") as resp:
            assert "Content-Length" not in resp.headers
            assert await resp.read() == b"y" * 10
        async with session.get(fake_openai.url + "/search", params={"q": "kaiwa"}) as resp:
            assert (await resp.json())["results"][0]["title"] == "About kaiwa"
        async with session.get(fake_openai.url + "/items/42") as resp:
            assert await resp.json() == {"id": "42"}
        async with session.get(fake_openai.url + "/nope") as resp:
            assert resp.status == 404

    paths = [r.path for r in fake_openai.requests]
    assert "/search" in paths and "/files/cat.png" in paths
    assert next(r for r in fake_openai.requests if r.path == "/search").query == {"q": "kaiwa"}


# -- concurrency, isolation, callables ------------------------------------------------------


@pytest.mark.asyncio
async def test_many_concurrent_requests(fake_openai):  # noqa: F811
    async with oai(fake_openai) as client:

        async def one(i: int) -> str:
            if i % 2:
                stream = await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"n{i}"}], stream=True
                )
                return (await collect(stream))[0]
            c = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"n{i}"}]
            )
            return c.choices[0].message.content

        results = await asyncio.gather(*(one(i) for i in range(60)))
    assert results == [f"echo: n{i}" for i in range(60)]
    assert len(fake_openai.chat_requests()) == 60


@pytest.mark.asyncio
async def test_callable_responses_and_instance_isolation(fake_openai):  # noqa: F811
    fake_openai.enqueue(lambda req: reply(f"you sent {len(req.messages)} messages"))
    with FakeOpenAIServer() as other:
        assert other.port != fake_openai.port
        async with oai(fake_openai) as a, oai(other) as b:
            ra = await a.chat.completions.create(model="m", messages=MESSAGES)
            rb = await b.chat.completions.create(model="m", messages=MESSAGES)
        assert ra.choices[0].message.content == "you sent 2 messages"
        assert rb.choices[0].message.content == "echo: Say hello"
        assert rb.id == ra.id == "chatcmpl-fake000001"  # counters are per instance
        assert len(other.requests) == 1
    assert len(fake_openai.requests) == 1
    fake_openai.clear()
    assert fake_openai.requests == []
