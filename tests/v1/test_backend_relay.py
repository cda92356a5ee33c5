"""The backends' pass-through methods (relay_stream, relay_complete) against the fake
provider: the body goes as it is, the chunks come back as the provider wrote them."""

import json

import pytest

from assistant.errors import ProviderRejected, UpstreamError
from tests.assistant.test_backends import API_KEY, azure_options, configure, openai_options
from tests.fakes.openai_server import error, invalid_api_key_error, reply

BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "top_p": 0.5,
    "stop": ["\n\n"],
    "response_format": {"type": "json_object"},
}


async def test_openai_relay_stream_passes_body_and_raw_chunks(settings, fake_openai):
    llm = configure(settings, "openai", **openai_options(fake_openai))
    fake_openai.enqueue(reply("one two", chunks=["one", " two"], usage=(3, 2)))
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    try:
        pairs = [pair async for pair in llm.relay_stream(body=body)]
    finally:
        await llm.aclose()
    assert fake_openai.last_chat_request.json == body
    assert all(json.loads(data) == chunk for data, chunk in pairs)
    contents = [c["choices"][0]["delta"].get("content") for _, c in pairs if c["choices"]]
    assert "".join(filter(None, contents)) == "one two"
    assert pairs[-1][1]["usage"]["completion_tokens"] == 2


async def test_azure_relay_complete_uses_the_deployment_path(settings, fake_openai):
    llm = configure(settings, "azure", **azure_options(fake_openai))
    fake_openai.enqueue(reply("Azure"))
    try:
        completion = await llm.relay_complete(body={**BODY, "model": "kaiwa-gpt4o"})
    finally:
        await llm.aclose()
    assert completion["choices"][0]["message"]["content"] == "Azure"
    sent = fake_openai.last_chat_request
    assert sent.path == "/openai/deployments/kaiwa-gpt4o/chat/completions"
    assert sent.headers["api-key"] == API_KEY


async def test_a_provider_400_is_passed_on_and_its_auth_errors_are_not(settings, fake_openai):
    llm = configure(settings, "openai", **openai_options(fake_openai))
    fake_openai.enqueue(
        error(
            400,
            {
                "error": {
                    "message": "Invalid value for 'top_p'.",
                    "type": "invalid_request_error",
                    "param": "top_p",
                    "code": None,
                }
            },
        ),
        invalid_api_key_error(),
    )
    try:
        with pytest.raises(ProviderRejected) as rejected:
            await llm.relay_complete(body=BODY)
        with pytest.raises(UpstreamError) as failed:
            await llm.relay_complete(body=BODY)
    finally:
        await llm.aclose()
    assert (rejected.value.status, rejected.value.param) == (400, "top_p")
    assert rejected.value.detail == "Invalid value for 'top_p'."
    assert failed.value.status == 502 and API_KEY not in failed.value.detail
