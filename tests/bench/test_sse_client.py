"""The SSE reader shared by the direct baseline and Kaiwa's /v1 route: OpenAI chunks in,
timed text out; and the report line that names the measured route."""

import asyncio
import json

import pytest

from bench import report, run, wire
from bench.upstream import Script, expected_text


def _chunk(content=None, *, role=None, finish=None, usage=False) -> bytes:
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body = {"object": "chat.completion.chunk", "choices": []}
    if usage:
        body["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    else:
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return json.dumps(body, ensure_ascii=False).encode()


def test_chunk_text_keeps_only_content_with_its_arrival_and_the_done_time():
    events = [
        (1.0, _chunk("", role="assistant")),
        (1.1, _chunk(" tok0")),
        (1.2, _chunk(" 語1")),
        (1.3, _chunk(finish="stop")),
        (1.4, _chunk(usage=True)),
        (1.5, b"[DONE]"),
    ]
    parts, done = wire.chunk_text(events)
    assert parts == [(1.1, " tok0"), (1.2, " 語1")]
    assert done == 1.5


def test_chunk_text_without_done_says_so():
    parts, done = wire.chunk_text([(2.0, _chunk("a"))])
    assert parts == [(2.0, "a")]
    assert done is None


def test_chunk_text_rejects_a_malformed_chunk():
    with pytest.raises(ValueError):
        wire.chunk_text([(1.0, b"{not json")])


def test_the_reader_joins_a_chunked_stream_split_anywhere_into_the_expected_text():
    """The upstream's own bytes, delivered in 7-byte reads: events straddle reads and
    chunks; the text must still be exactly the reply, each token timed by its last read."""
    tokens = 5
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw = head + b"".join(Script(tokens).framed(include_usage=True))

    async def feed():
        stream = wire.SSEStream()
        pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
        for piece in pieces[:-1]:
            stream.data_received(piece)
        ended_early = stream.finished.done()
        stream.data_received(pieces[-1])
        return stream, ended_early

    stream, ended_early = asyncio.run(feed())
    assert not ended_early and stream.finished.done() and stream.error is None
    status, events = stream.events()
    parts, done = wire.chunk_text(events)
    assert status == 200
    assert "".join(text for _, text in parts) == expected_text(tokens)
    assert len(parts) == tokens
    assert [t for t, _ in parts] == sorted(t for t, _ in parts)
    assert parts[-1][0] <= done <= stream.reads[-1][0]


def test_the_report_names_the_route_and_old_results_were_websocket():
    assert report.route({"settings": {"route": "v1"}}) == "v1"
    assert report.route({"settings": {}}) == "ws"
    assert report.route_line({"settings": {"route": "v1"}}).startswith(
        "Route measured: `v1` — as streamed `POST /v1/chat/completions`"
    )
    assert "WebSocket" in report.route_line({"settings": {}})


def test_v1_specs_carry_the_token_and_append_to_the_clients_conversation():
    class Server:
        port = 8123

    clients = [{"conversation_id": "c-1", "token": "t-1", "cookie": "s=1"}]
    [spec] = run._route_specs("v1", clients, [Server()], [0.25])
    assert spec["path"] == "/v1/chat/completions"
    assert spec["port"] == 8123 and spec["offset"] == 0.25
    assert spec["headers"] == {"Authorization": "Bearer t-1", "X-Kaiwa-Conversation": "c-1"}


@pytest.mark.parametrize("flags", [["--targets"], ["--floor"]])
def test_the_v1_route_refuses_the_floor(flags, capsys):
    with pytest.raises(SystemExit):
        run._parse_args(["--route", "v1", *flags])
    assert "--route v1" in capsys.readouterr().err
