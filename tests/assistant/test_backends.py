"""LLM backends, driven through the real `openai` SDK against the loopback fake."""

import base64
import gc
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured

from assistant.backends import get_backend, reset_backend
from assistant.backends.base import (
    ChatOptions,
    StreamEnd,
    TextDelta,
    ToolCallsRequested,
    Usage,
)
from assistant.backends.demo import LABEL, DemoBackend, split_tokens
from assistant.errors import (
    ContentFiltered,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tests.fakes.openai_server import (
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

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-kaiwa-TEST-4f9c2e71d0b8a6"  # distinctive, to search for in logs and errors
AZURE_VERSION = "2025-01-01-preview"
MESSAGES = [
    {"role": "system", "content": "あなたは親切なアシスタントです。"},
    {"role": "user", "content": "こんにちは"},
]
BACKENDS = {
    "openai": "assistant.backends.openai.OpenAIBackend",
    "azure": "assistant.backends.azure.AzureOpenAIBackend",
    "demo": "assistant.backends.demo.DemoBackend",
}
ANALYZE_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "intent": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "keywords": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["sentiment", "intent", "confidence"],
}


def _tool(name: str, parameters: dict | None = None) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": parameters or {"type": "object", "properties": {}},
        },
    }


SAVE_NOTE = _tool(
    "save_note",
    {
        "type": "object",
        "properties": {"title": {"type": "string"}, "content": {"type": "string"}},
        "required": ["title", "content"],
    },
)
SEARCH_WEB = _tool(
    "search_web",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


def configure(settings, provider: str, **options):
    """Point settings.LLM_BACKEND at `provider` and return the (fresh) backend."""
    settings.LLM_BACKEND = {"BACKEND": BACKENDS[provider], "OPTIONS": options}
    return get_backend()


def openai_options(server: FakeOpenAIServer, **overrides) -> dict:
    options = {
        "api_key": API_KEY,
        "base_url": server.base_url,
        "model": "gpt-4o-mini",
        "image_model": "dall-e-3",
        "timeout": 5,
        "max_retries": 0,
    }
    return {**options, **overrides}


def azure_options(server: FakeOpenAIServer, **overrides) -> dict:
    options = {
        "endpoint": server.url,
        "api_key": API_KEY,
        "deployment": "kaiwa-gpt4o",
        "api_version": AZURE_VERSION,
        "timeout": 5,
        "max_retries": 0,
    }
    return {**options, **overrides}


@pytest.fixture
async def backend(settings, fake_openai):
    """The OpenAI backend pointed at the fake (no SDK retries unless a test asks)."""
    llm = configure(settings, "openai", **openai_options(fake_openai))
    yield llm
    await llm.aclose()


async def stream(llm, messages=MESSAGES, options=None) -> list:
    return [
        event
        async for event in llm.stream_chat(messages=messages, options=options or ChatOptions())
    ]


async def stream_until_error(llm, error_class, messages=MESSAGES) -> tuple[str, Exception]:
    """Consume a stream expected to fail; return the text received before the error."""
    events = []
    with pytest.raises(error_class) as caught:
        async for event in llm.stream_chat(messages=messages, options=ChatOptions()):
            events.append(event)
    assert not any(isinstance(event, StreamEnd) for event in events)
    return "".join(e.text for e in events if isinstance(e, TextDelta)), caught.value


def text_of(events) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def llm_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "kaiwa.llm" and r.getMessage() == "llm_call"]


# -- OpenAI: plain and streamed ------------------------------------------------------------


async def test_complete_chat_returns_reply_usage_and_sends_defaults(backend, fake_openai, settings):
    settings.LLM_DEFAULT_TEMPERATURE = 0.3
    fake_openai.enqueue(reply("こんにちは、世界！", usage=(12, 5)))

    completion = await backend.complete_chat(messages=MESSAGES, options=ChatOptions(max_tokens=64))

    assert completion.content == "こんにちは、世界！"
    assert completion.tool_calls == ()
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(prompt_tokens=12, completion_tokens=5)
    assert (completion.model, completion.retries) == ("gpt-4o-mini", 0)
    sent = fake_openai.last_chat_request
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.json["messages"] == MESSAGES
    assert (sent.json["model"], sent.json["temperature"], sent.json["max_tokens"]) == (
        "gpt-4o-mini",
        0.3,
        64,
    )
    assert "stream" not in sent.json and "tools" not in sent.json


async def test_stream_chat_deltas_concatenate_and_end_with_usage(backend, fake_openai):
    fake_openai.enqueue(reply("ストリーミングの応答です。", usage=(20, 9)))

    events = await stream(backend, options=ChatOptions(model="gpt-4o", temperature=0.1))

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3
    assert text_of(events) == "ストリーミングの応答です。"
    assert events[-1] == StreamEnd(
        finish_reason="stop", usage=Usage(20, 9), model="gpt-4o", retries=0
    )
    sent = fake_openai.last_chat_request
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert (sent.json["model"], sent.json["temperature"]) == ("gpt-4o", 0.1)


async def test_streamed_parallel_tool_calls_are_assembled(backend, fake_openai):
    note = {"title": "買い物", "content": "牛乳と卵を買う"}
    fake_openai.enqueue(
        tool_calls(
            [("save_note", note, "call_a"), ("search_web", {"query": "東京 天気"}, "call_b")],
            args_chunk_size=4,
        )
    )
    options = ChatOptions(tools=[SAVE_NOTE, SEARCH_WEB], tool_choice="auto")

    events = await stream(backend, options=options)

    requested = [e for e in events if isinstance(e, ToolCallsRequested)]
    assert len(requested) == 1
    calls = requested[0].calls
    assert [(c.id, c.name) for c in calls] == [("call_a", "save_note"), ("call_b", "search_web")]
    assert json.loads(calls[0].arguments) == note
    assert json.loads(calls[1].arguments) == {"query": "東京 天気"}
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "tool_calls"
    sent = fake_openai.last_chat_request.json
    assert sent["tools"] == [SAVE_NOTE, SEARCH_WEB] and sent["tool_choice"] == "auto"
    assert "functions" not in sent and "function_call" not in sent


async def test_complete_chat_returns_tool_calls(backend, fake_openai):
    fake_openai.enqueue(tool_calls([("search_web", {"query": "django"}, "call_1")]))

    completion = await backend.complete_chat(
        messages=MESSAGES, options=ChatOptions(tools=[SEARCH_WEB])
    )

    assert completion.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("call_1", "search_web", {"query": "django"})
    ]


async def test_server_rejecting_stream_options_is_asked_once_more_without_them(
    backend, fake_openai
):
    def old_vllm(request):
        if "stream_options" in request.json:
            return error(400, {"error": {"message": "Extra inputs: stream_options"}})
        return reply("古いサーバー")

    fake_openai.enqueue(old_vllm, old_vllm, old_vllm)

    first = await stream(backend)
    second = await stream(backend)

    assert text_of(first) == text_of(second) == "古いサーバー"
    assert first[-1].usage is None  # the server cannot report streamed usage
    sent = fake_openai.chat_requests()
    assert ["stream_options" in r.json for r in sent] == [True, False, False]
    assert backend.stream_usage_supported is False


# -- retries and errors ------------------------------------------------------------------


async def test_rate_limit_is_retried_by_the_sdk_and_retries_are_reported(
    settings, fake_openai, caplog
):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    llm = configure(settings, "openai", **openai_options(fake_openai, max_retries=3))
    fake_openai.enqueue(rate_limit_error(), rate_limit_error(), reply("三度目の正直"))

    events = await stream(llm)

    assert text_of(events) == "三度目の正直"
    assert events[-1].retries == 2
    assert [r.retry_count for r in fake_openai.chat_requests()] == [0, 1, 2]
    (record,) = llm_records(caplog)
    assert (record.retries, record.outcome) == (2, "ok")
    await llm.aclose()


async def test_rate_limit_persisting_after_retries_carries_retry_after(
    settings, fake_openai, caplog
):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    llm = configure(settings, "openai", **openai_options(fake_openai, max_retries=1))
    limited = rate_limit_error(retry_after="1", retry_after_ms="20")
    fake_openai.enqueue(limited, limited)

    with pytest.raises(UpstreamRateLimited) as caught:
        await llm.complete_chat(messages=MESSAGES, options=ChatOptions())

    assert caught.value.retry_after == pytest.approx(0.02)
    assert caught.value.code == "upstream_rate_limited"
    assert len(fake_openai.chat_requests()) == 2
    (record,) = llm_records(caplog)
    assert (record.retries, record.outcome) == (1, "upstream_rate_limited")


async def test_retry_after_in_seconds_is_used_without_the_ms_header(backend, fake_openai):
    fake_openai.enqueue(rate_limit_error(retry_after="7", retry_after_ms=None))

    _, exc = await stream_until_error(backend, UpstreamRateLimited)

    assert exc.retry_after == 7


async def test_server_error_becomes_upstream_error_without_provider_text(backend, fake_openai):
    fake_openai.enqueue(error(500))

    with pytest.raises(UpstreamError) as caught:
        await backend.complete_chat(messages=MESSAGES, options=ChatOptions())

    assert caught.value.code == "upstream_error" and caught.value.status == 502
    assert "500" in caught.value.detail
    assert "Sorry about that" not in caught.value.detail


HTTP_CLIENT_KINDS = pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])


@HTTP_CLIENT_KINDS
async def test_hanging_server_becomes_upstream_timeout(settings, fake_openai, http_client):
    llm = configure(
        settings, "openai", **openai_options(fake_openai, timeout=0.3, http_client=http_client)
    )
    fake_openai.enqueue(hang(10))

    started = time.monotonic()
    _, exc = await stream_until_error(llm, UpstreamTimeout)

    assert exc.code == "upstream_timeout"
    assert time.monotonic() - started < 3


@HTTP_CLIENT_KINDS
async def test_connection_refused_becomes_upstream_unavailable(settings, http_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = configure(
        settings,
        "openai",
        api_key=API_KEY,
        base_url=f"http://127.0.0.1:{port}/v1",
        max_retries=0,
        timeout=2,
        http_client=http_client,
    )

    with pytest.raises(UpstreamUnavailable) as caught:
        await llm.complete_chat(messages=MESSAGES, options=ChatOptions())
    _, streamed = await stream_until_error(llm, UpstreamUnavailable)

    assert caught.value.code == streamed.code == "upstream_unavailable"


# -- the SDK's two HTTP clients (LLM_HTTP_CLIENT) ---------------------------------------
# The default is aiohttp; the transport-sensitive cases above (hanging server, refused
# connection, broken stream) run on both clients, so error codes do not depend on the choice.


@HTTP_CLIENT_KINDS
async def test_each_http_client_streams_the_reply(settings, fake_openai, http_client):
    llm = configure(settings, "openai", **openai_options(fake_openai, http_client=http_client))
    fake_openai.enqueue(reply("どちらのクライアントでも同じ"))

    events = await stream(llm)

    assert text_of(events) == "どちらのクライアントでも同じ"
    assert isinstance(events[-1], StreamEnd)
    await llm.aclose()


def test_unknown_http_client_is_improperly_configured(settings, fake_openai):
    settings.LLM_BACKEND = {
        "BACKEND": BACKENDS["openai"],
        "OPTIONS": openai_options(fake_openai, http_client="urllib"),
    }

    with pytest.raises(ImproperlyConfigured, match="http_client"):
        get_backend()


def test_clients_of_closed_event_loops_are_closed_by_the_next_loop(settings, fake_openai, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    llm = configure(settings, "openai", **openai_options(fake_openai))
    gc.collect()  # earlier tests' abandoned clients complain now, not below
    caplog.clear()

    async def one_stream():
        return text_of(await stream(llm))

    texts = [async_to_sync(one_stream)() for _ in range(2)]
    # The first loop's client was closed from the second loop: collecting it complains of
    # nothing, where an abandoned aiohttp session logs "Unclosed client session".
    gc.collect()
    unclosed = [r for r in caplog.records if "Unclosed client session" in r.getMessage()]

    assert texts == ["echo: こんにちは"] * 2
    assert unclosed == []


async def test_rejected_key_names_the_setting_and_never_leaks_the_key(
    settings, fake_openai, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.LOG_REQUESTS = True
    llm = configure(settings, "openai", **openai_options(fake_openai))
    echoed = f"Incorrect API key provided: {API_KEY}. Find your key at platform.openai.com."
    fake_openai.enqueue(error(401, {"error": {"message": echoed, "code": "invalid_api_key"}}))

    with pytest.raises(UpstreamError) as caught:
        await llm.complete_chat(messages=MESSAGES, options=ChatOptions())

    exc = caught.value
    assert "OPENAI_API_KEY" in exc.detail and "401" in exc.detail
    assert API_KEY not in str(exc) and "Incorrect API key" not in str(exc)
    assert exc.__cause__ is None and exc.__suppress_context__
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert llm_records(caplog)[0].outcome == "upstream_error"
    assert API_KEY not in logged


async def test_azure_content_filter_error_becomes_content_filtered(settings, fake_openai):
    llm = configure(settings, "azure", **azure_options(fake_openai))
    fake_openai.enqueue(azure_content_filter_error("violence"))

    _, exc = await stream_until_error(llm, ContentFiltered)

    assert exc.code == "content_filtered" and exc.status == 422
    assert "violence" in exc.detail


async def test_content_filter_finish_raises_after_the_partial_text(backend, fake_openai):
    fake_openai.enqueue(content_filter_finish("ここまでは大丈夫"))

    text, exc = await stream_until_error(backend, ContentFiltered)

    assert text == "ここまでは大丈夫"
    assert exc.code == "content_filtered"


async def test_plain_reply_stopped_by_content_filter_raises(backend, fake_openai):
    fake_openai.enqueue(content_filter_finish("途中"))

    with pytest.raises(ContentFiltered):
        await backend.complete_chat(messages=MESSAGES, options=ChatOptions())


@HTTP_CLIENT_KINDS
async def test_broken_stream_raises_after_partial_text_and_is_not_restarted(
    settings, fake_openai, http_client
):
    llm = configure(
        settings, "openai", **openai_options(fake_openai, max_retries=2, http_client=http_client)
    )
    fake_openai.enqueue(broken_stream("途中で切れる応答"), reply("二度目は送らない"))

    text, exc = await stream_until_error(llm, UpstreamUnavailable)

    assert text == "途中で切れる応答"
    assert exc.code == "upstream_unavailable"
    assert len(fake_openai.chat_requests()) == 1


async def test_error_event_inside_the_stream_raises_after_partial_text(backend, fake_openai):
    fake_openai.enqueue(stream_error("ここまで"))

    text, exc = await stream_until_error(backend, UpstreamError)

    assert text == "ここまで" and exc.code == "upstream_error"


async def test_abandoned_stream_is_logged_as_cancelled(backend, fake_openai, caplog):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    fake_openai.enqueue(reply("長い応答" * 50, interval=0.01))

    events = backend.stream_chat(messages=MESSAGES, options=ChatOptions())
    first = await anext(events)
    await events.aclose()

    assert isinstance(first, TextDelta)
    (record,) = llm_records(caplog)
    assert record.outcome == "cancelled"


async def test_stream_failing_mid_reply_logs_its_code_and_the_text_so_far(
    backend, fake_openai, settings, caplog
):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    settings.LOG_REQUESTS = True
    fake_openai.enqueue(stream_error("ここまで"))

    await stream_until_error(backend, UpstreamError)

    (record,) = llm_records(caplog)
    assert (record.outcome, record.stream, record.reply) == ("upstream_error", True, "ここまで")


async def test_demo_calls_log_one_line_each_with_their_outcome(settings, caplog):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    demo = configure(settings, "demo", token_delay=0)

    await stream(demo)
    await demo.complete_chat(messages=MESSAGES, options=ChatOptions())
    await demo.generate_image(prompt="猫", size="1024x1024")
    abandoned = demo.stream_chat(messages=MESSAGES, options=ChatOptions())
    await anext(abandoned)
    await abandoned.aclose()

    records = llm_records(caplog)
    assert [(r.operation, r.stream, r.outcome) for r in records] == [
        ("chat", True, "ok"),
        ("chat", False, "ok"),
        ("image", False, "ok"),
        ("chat", True, "cancelled"),
    ]


# -- Azure and compatible servers ----------------------------------------------------------


async def test_azure_classic_uses_deployment_path_api_version_and_api_key_header(
    settings, fake_openai
):
    llm = configure(settings, "azure", **azure_options(fake_openai))
    fake_openai.enqueue(reply("Azure です", usage=(7, 3)))

    events = await stream(llm)

    assert text_of(events) == "Azure です"  # despite Azure's leading prompt-filter chunk
    assert events[-1].usage == Usage(7, 3) and events[-1].model == "kaiwa-gpt4o"
    sent = fake_openai.last_chat_request
    assert sent.path == "/openai/deployments/kaiwa-gpt4o/chat/completions"
    assert sent.api_version == AZURE_VERSION
    assert sent.headers["api-key"] == API_KEY
    assert "authorization" not in sent.headers


async def test_azure_v1_uses_the_v1_path_with_the_deployment_as_model(settings, fake_openai):
    llm = configure(settings, "azure", **azure_options(fake_openai, api_version="v1"))
    fake_openai.enqueue(reply("v1 です"))

    completion = await llm.complete_chat(messages=MESSAGES, options=ChatOptions())

    assert completion.content == "v1 です"
    sent = fake_openai.last_chat_request
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.json["model"] == "kaiwa-gpt4o"
    assert "api-version" not in sent.query
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"


async def test_azure_images_use_their_own_resource(settings, fake_openai):
    with FakeOpenAIServer() as image_resource:
        llm = configure(
            settings,
            "azure",
            **azure_options(
                fake_openai,
                image_endpoint=image_resource.url,
                image_api_key="image-resource-key",
                image_deployment="kaiwa-dalle3",
            ),
        )
        image = await llm.generate_image(prompt="桜の庭園", size="1024x1024")
        await llm.aclose()
        (sent,) = image_resource.image_requests()

    assert image.b64_bytes == tiny_png() and image.model == "kaiwa-dalle3"
    assert sent.path == "/openai/deployments/kaiwa-dalle3/images/generations"
    assert sent.headers["api-key"] == "image-resource-key" and sent.api_version == AZURE_VERSION
    assert fake_openai.requests == []


async def test_compatible_server_without_key_gets_a_placeholder_key(settings, fake_openai):
    llm = configure(settings, "openai", **openai_options(fake_openai, api_key="", model="llama3"))

    completion = await llm.complete_chat(messages=MESSAGES, options=ChatOptions())

    assert completion.content == "echo: こんにちは"
    assert fake_openai.last_chat_request.headers["authorization"] == "Bearer sk-no-key-required"
    assert fake_openai.last_chat_request.json["model"] == "llama3"


# -- images ------------------------------------------------------------------------------


async def test_generate_image_decodes_b64_json(backend, fake_openai):
    png = tiny_png(2, 2, (0, 128, 255))
    fake_openai.enqueue_image(image_b64(png, revised_prompt="A Japanese garden"))

    image = await backend.generate_image(prompt="日本庭園", size="1792x1024")

    assert (image.b64_bytes, image.url) == (png, None)
    assert (image.revised_prompt, image.model) == ("A Japanese garden", "dall-e-3")
    (sent,) = fake_openai.image_requests()
    assert sent.json == {
        "model": "dall-e-3",
        "prompt": "日本庭園",
        "size": "1792x1024",
        "n": 1,
        "response_format": "b64_json",
    }


async def test_generate_image_returns_the_provider_url(backend, fake_openai):
    fake_openai.enqueue_image(image_url("https://images.example/x.png"))

    image = await backend.generate_image(prompt="富士山", size="1024x1024")

    assert (image.b64_bytes, image.url) == (None, "https://images.example/x.png")


async def test_gpt_image_models_are_not_sent_response_format(settings, fake_openai):
    llm = configure(settings, "openai", **openai_options(fake_openai, image_model="gpt-image-1"))

    image = await llm.generate_image(prompt="猫", size="1024x1024")

    assert image.b64_bytes == tiny_png()
    assert "response_format" not in fake_openai.image_requests()[0].json


# -- the process-wide backend ----------------------------------------------------------------


def test_backend_is_cached_and_rebuilt_when_the_setting_changes(settings):
    settings.LLM_BACKEND = {"BACKEND": BACKENDS["demo"], "OPTIONS": {"token_delay": 0}}
    first = get_backend()
    assert get_backend() is first
    settings.LLM_BACKEND = {"BACKEND": BACKENDS["demo"], "OPTIONS": {"token_delay": 0.5}}
    assert get_backend() is not first and get_backend().token_delay == 0.5
    reset_backend()
    assert get_backend().token_delay == 0.5


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"BACKEND": "assistant.backends.nope.Backend", "OPTIONS": {}}, "could not be imported"),
        ({"BACKEND": "collections.OrderedDict", "OPTIONS": {}}, "not a subclass"),
        ({"BACKEND": BACKENDS["demo"], "OPTIONS": {"colour": "red"}}, "colour"),
        ({"BACKEND": "", "OPTIONS": {}}, "LLM_PROVIDER"),
    ],
)
def test_bad_backend_setting_is_improperly_configured(settings, config, message):
    settings.LLM_BACKEND = config
    with pytest.raises(ImproperlyConfigured, match=message):
        get_backend()


@pytest.mark.parametrize(
    ("provider", "options", "variable"),
    [
        ("openai", {"timeout": "soon"}, "LLM_REQUEST_TIMEOUT"),
        ("openai", {"max_retries": -1}, "LLM_MAX_RETRIES"),
        ("openai", {"base_url": "localhost:11434"}, "OPENAI_BASE_URL"),
        ("azure", {"api_version": "latest"}, "AZURE_OPENAI_API_VERSION"),
        ("azure", {"image_endpoint": "ftp://images"}, "AZURE_OPENAI_IMAGE_ENDPOINT"),
        ("demo", {"token_delay": -1}, "DEMO_TOKEN_DELAY"),
    ],
)
def test_an_option_out_of_shape_names_its_environment_variable(
    settings, provider, options, variable
):
    settings.LLM_BACKEND = {"BACKEND": BACKENDS[provider], "OPTIONS": options}

    with pytest.raises(ImproperlyConfigured, match=variable):
        get_backend()


def test_a_key_of_the_wrong_type_is_named_but_never_quoted(settings):
    settings.LLM_BACKEND = {"BACKEND": BACKENDS["openai"], "OPTIONS": {"api_key": 4242424242}}

    with pytest.raises(ImproperlyConfigured, match="OPENAI_API_KEY") as raised:
        get_backend()

    assert "4242424242" not in str(raised.value)


def test_cached_backend_works_from_one_event_loop_per_call(settings, fake_openai):
    # async_to_sync runs each call on a new event loop; one shared httpx2 pool would
    # fail here with "Event loop is closed" on the second call.
    llm = configure(settings, "openai", **openai_options(fake_openai))

    async def one_stream():
        return text_of(await stream(llm))

    async def one_completion():
        return (await llm.complete_chat(messages=MESSAGES, options=ChatOptions())).content

    results = [async_to_sync(call)() for call in (one_stream, one_stream, one_completion)]

    assert results == ["echo: こんにちは"] * 3


# -- the call log --------------------------------------------------------------------------


async def test_each_call_logs_one_structured_line_with_truncated_texts(
    backend, fake_openai, settings, caplog
):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    settings.LOG_REQUESTS = True
    fake_openai.enqueue(reply("返" * 300, usage=(11, 150)))

    await stream(backend, messages=[{"role": "user", "content": "問" * 500}])

    (record,) = llm_records(caplog)
    assert record.provider == "openai" and record.model == "gpt-4o-mini"
    assert record.stream is True and record.outcome == "ok" and record.retries == 0
    assert (record.prompt_tokens, record.completion_tokens) == (11, 150)
    assert isinstance(record.latency_ms, int) and record.latency_ms >= 0
    assert (record.prompt, record.reply) == ("問" * 200, "返" * 200)


async def test_log_requests_off_leaves_prompt_and_reply_out(backend, fake_openai, settings, caplog):
    caplog.set_level(logging.INFO, logger="kaiwa.llm")
    settings.LOG_REQUESTS = False
    fake_openai.enqueue(error(500))

    with pytest.raises(UpstreamError):
        await backend.complete_chat(messages=MESSAGES, options=ChatOptions())

    (record,) = llm_records(caplog)
    assert record.outcome == "upstream_error" and record.stream is False
    assert not hasattr(record, "prompt") and not hasattr(record, "reply")


# -- the demo backend ------------------------------------------------------------------------


@pytest.fixture
def demo(settings):
    return configure(settings, "demo", token_delay=0)


async def test_demo_streams_a_labelled_deterministic_reply(demo):
    messages = [{"role": "user", "content": "今日の天気は？"}]

    first = await stream(demo, messages=messages)
    second = await stream(demo, messages=messages)

    assert first == second
    text = text_of(first)
    assert text.startswith(LABEL) and "今日の天気は？" in text
    assert "OPENAI_API_KEY" in text and "AZURE_OPENAI_ENDPOINT" in text
    assert len([e for e in first if isinstance(e, TextDelta)]) > 20
    end = first[-1]
    assert (end.finish_reason, end.model) == ("stop", "demo")
    assert end.usage.completion_tokens == len(text) // 2
    assert demo.info.is_demo and demo.info.default_model == "demo"
    completion = await demo.complete_chat(messages=messages, options=ChatOptions())
    assert completion.content == text and completion.model == "demo"


def test_demo_tokens_concatenate_exactly():
    text = "[デモ応答 / demo] 「こんにちは」\n\nHello,  world!\t\x00漢字"
    assert "".join(split_tokens(text)) == text


async def test_demo_asks_for_save_note_when_offered_and_triggered(demo):
    messages = [{"role": "user", "content": "明日の会議は10時からとメモして"}]

    events = await stream(demo, messages=messages, options=ChatOptions(tools=[SAVE_NOTE]))

    assert text_of(events) == ""
    (requested,) = [e for e in events if isinstance(e, ToolCallsRequested)]
    (call,) = requested.calls
    arguments = json.loads(call.arguments)
    jsonschema.validate(arguments, SAVE_NOTE["function"]["parameters"])
    assert call.name == "save_note" and arguments["content"] == "明日の会議は10時から"
    assert events[-1].finish_reason == "tool_calls"


async def test_demo_does_not_call_a_tool_that_is_not_offered(demo):
    messages = [{"role": "user", "content": "Please save a note: buy milk"}]

    events = await stream(demo, messages=messages, options=ChatOptions(tools=[SEARCH_WEB]))

    assert not any(isinstance(e, ToolCallsRequested) for e in events)
    assert text_of(events).startswith(LABEL) and events[-1].finish_reason == "stop"


async def test_demo_summarises_the_tool_result(demo):
    messages = [
        {"role": "user", "content": "save a note: buy milk"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "save_note", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"id": 7, "title": "buy milk"}'},
    ]

    events = await stream(demo, messages=messages, options=ChatOptions(tools=[SAVE_NOTE]))

    text = text_of(events)
    assert text.startswith(LABEL) and "save_note" in text and "buy milk" in text
    assert not any(isinstance(e, ToolCallsRequested) for e in events)


async def test_demo_forced_analyze_returns_schema_valid_arguments(demo):
    options = ChatOptions(
        tools=[_tool("analyze_text", ANALYZE_SCHEMA)],
        tool_choice={"type": "function", "function": {"name": "analyze_text"}},
    )
    messages = [{"role": "user", "content": "このサービスは最高です、ありがとう！ Django rocks"}]

    completion = await demo.complete_chat(messages=messages, options=options)

    (call,) = completion.tool_calls
    arguments = json.loads(call.arguments)
    jsonschema.validate(arguments, ANALYZE_SCHEMA)
    assert arguments["sentiment"] == "positive" and arguments["confidence"] == 0.5
    assert "Django" in arguments["keywords"]


async def test_demo_image_is_a_deterministic_png(demo):
    first = await demo.generate_image(prompt="桜", size="1024x1024")
    second = await demo.generate_image(prompt="桜", size="1024x1024")

    assert first.b64_bytes == second.b64_bytes and first.b64_bytes.startswith(b"\x89PNG\r\n")
    assert first.model == "demo" and first.url is None
    assert base64.b64encode(first.b64_bytes)  # bytes, ready to store


def test_demo_trigger_phrases_are_documented_on_the_class():
    assert DemoBackend.DEMO_TOOL_TRIGGERS["メモして"] == "save_note"
    assert {"save_note", "analyze_text", "generate_image", "search_web"} <= set(
        DemoBackend.DEMO_TOOL_TRIGGERS.values()
    )


# -- provider selection in settings (the environment is read at import) ----------------------

LLM_VARIABLES = (
    "LLM_PROVIDER",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_IMAGE_ENDPOINT",
    "AZURE_OPENAI_IMAGE_API_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)


@pytest.mark.parametrize(
    ("env", "provider", "backend_path"),
    [
        ({}, "demo", BACKENDS["demo"]),
        ({"OPENAI_API_KEY": API_KEY}, "openai", BACKENDS["openai"]),
        ({"OPENAI_BASE_URL": "http://ollama:11434/v1"}, "openai", BACKENDS["openai"]),
        (
            {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "OPENAI_API_KEY": API_KEY},
            "azure",
            BACKENDS["azure"],
        ),
        ({"LLM_PROVIDER": "Demo", "OPENAI_API_KEY": API_KEY}, "demo", BACKENDS["demo"]),
        ({"LLM_PROVIDER": "gemini"}, "gemini", ""),
    ],
)
def test_provider_is_chosen_from_the_environment(env, provider, backend_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # Empty values also shadow any developer .env (it never overrides the environment).
    clean.update({name: "" for name in LLM_VARIABLES})
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps([settings.LLM_PROVIDER, settings.LLM_BACKEND['BACKEND'], "
        "'OPENAI_API_KEY' in dir(settings)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # The key is an OPTION only, never a setting of its own.
    assert json.loads(result.stdout) == [provider, backend_path, False]
