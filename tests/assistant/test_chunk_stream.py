"""Decoding a streamed chat completion's body (assistant/backends/chunk_stream.py)."""

import httpx2
import openai
import pytest

from assistant.backends.chunk_stream import ChunkStream


def _stream(body: str) -> ChunkStream:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return ChunkStream(httpx2.Response(200, content=body.encode(), request=request))


async def _chunks(body: str) -> list[dict]:
    return [chunk async for chunk in _stream(body)]


async def test_data_lines_become_dicts_until_done():
    body = (
        ": keep-alive comment\n\n"
        'data: {"choices": [{"index": 0, "delta": {"content": "こん"}}]}\n\n'
        'data:{"choices": [{"index": 0, "delta": {"content": "にちは"}}]}\n\n'
        "data: [DONE]\n\n"
        'data: {"after": "done"}\n\n'
    )
    chunks = await _chunks(body)
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["こん", "にちは"]


async def test_an_event_split_over_several_data_lines_is_joined():
    body = 'event: chunk\ndata: {"choices":\ndata: [], "model": "m"}\n\ndata: [DONE]\n\n'
    assert await _chunks(body) == [{"choices": [], "model": "m"}]


async def test_a_body_without_done_ends_after_its_last_event():
    assert await _chunks('data: {"model": "m"}') == [{"model": "m"}]


async def test_an_error_event_raises_the_sdks_api_error_with_its_message():
    body = 'data: {"model": "m"}\n\ndata: {"error": {"message": "overloaded"}}\n\n'
    seen = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in _stream(body):
            seen.append(chunk)
    assert seen == [{"model": "m"}]
    assert caught.value.message == "overloaded" and caught.value.body == {"message": "overloaded"}


async def test_a_chunk_that_is_not_json_raises_api_error():
    with pytest.raises(openai.APIError, match="not JSON"):
        await _chunks("data: {not json\n\n")
