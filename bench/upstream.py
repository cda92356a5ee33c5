"""A minimal fake OpenAI-compatible upstream for the benchmark, run as its own process.

    python -m bench.upstream --port 0 --tokens 100 --interval-ms 20

Every POST to /v1/chat/completions with ``"stream": true`` gets the same reply: a role
chunk, then `tokens` content chunks, one every `interval` (the first after one interval,
scheduled from the request's arrival, so a slow reader never shifts the schedule), a
finish chunk, a usage chunk when ``stream_options.include_usage`` asks for it, and
``[DONE]`` — OpenAI's ``chat.completion.chunk`` SSE format. The chunks are encoded once at
start-up, so the server spends its CPU on sockets, not on JSON.

The process prints ``READY <port>`` on stdout when it listens and exits on SIGTERM/SIGINT
or after ``--max-seconds``.
"""

import argparse
import asyncio
import json
import signal
import sys

CHUNK_ID = "chatcmpl-bench"
MODEL = "gpt-bench"
CREATED = 1_700_000_000


def token(i: int) -> str:
    """The i-th token: ASCII and Japanese, so JSON escaping and UTF-8 are both exercised."""
    return f" 語{i}" if i % 2 else f" tok{i}"


def expected_text(tokens: int) -> str:
    return "".join(token(i) for i in range(tokens))


def _event(choices: list, usage=None, *, with_usage_field: bool) -> bytes:
    chunk = {
        "id": CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": choices,
    }
    if with_usage_field or usage is not None:
        chunk["usage"] = usage
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()


class Script:
    """The reply's SSE events, pre-encoded (with and without the `usage` field)."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.by_usage = {}
        for with_usage in (False, True):
            role = _event(
                [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
                with_usage_field=with_usage,
            )
            content = [
                _event(
                    [{"index": 0, "delta": {"content": token(i)}, "finish_reason": None}],
                    with_usage_field=with_usage,
                )
                for i in range(tokens)
            ]
            finish = _event(
                [{"index": 0, "delta": {}, "finish_reason": "stop"}], with_usage_field=with_usage
            )
            self.by_usage[with_usage] = (role, content, finish)
        self.usage = _event(
            [],
            {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens},
            with_usage_field=True,
        )
        self._framed = {}
        for with_usage in (False, True):
            role, content, finish = self.by_usage[with_usage]
            tail = finish + (self.usage if with_usage else b"") + b"data: [DONE]\n\n"
            self._framed[with_usage] = (
                [_chunked(role)] + [_chunked(c) for c in content] + [_chunked(tail) + b"0\r\n\r\n"]
            )

    def framed(self, include_usage: bool) -> list[bytes]:
        """The HTTP/1.1 chunked body: role, one per token, then the tail and the terminator."""
        return self._framed[include_usage]


class _StreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; every request gets the scripted stream.

    Chunks are written from timer callbacks straight to the transport: no task, no
    coroutine and no awaiting per chunk, so hundreds of concurrent streams cost the upstream
    little CPU (measured on the bench machine: about 5 µs per chunk, against about 33 µs
    with an aiohttp `StreamResponse`).
    """

    def __init__(self, server: "Upstream") -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.streaming = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_REQUEST_BYTES:
            self._fail(413, "request too large")
            return
        self._maybe_start()

    def _maybe_start(self) -> None:
        if self.streaming or self.transport is None:
            return
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buffer[:head_end].decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._fail(411, "send a Content-Length")
            return
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < head_end + 4 + length:
            return
        body = self.buffer[head_end + 4 : head_end + 4 + length]
        self.buffer = self.buffer[head_end + 4 + length :]
        method, path, _ = request_line.split(" ", 2)
        if method != "POST" or not path.endswith("/chat/completions"):
            self._fail(404, "not found")
            return
        try:
            request = json.loads(body)
        except ValueError:
            self._fail(400, "malformed JSON")
            return
        if not request.get("stream"):
            self._fail(400, "the bench upstream only streams")
            return
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        self.streaming = True
        self.server.started += 1
        self.transport.write(STREAM_HEAD)
        self.events = self.server.script.framed(include_usage)
        self.transport.write(self.events[0])  # the role chunk
        self.next_index = 1
        loop = asyncio.get_running_loop()
        self.start = loop.time()
        self._schedule(loop)

    def _schedule(self, loop) -> None:
        when = self.start + self.next_index * self.server.interval
        self.timer = loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self.timer = None
        if self.transport is None:
            return
        events = self.events
        index = self.next_index
        if index < len(events) - 1:
            self.transport.write(events[index])
            self.next_index = index + 1
            self._schedule(asyncio.get_running_loop())
            return
        # The last content chunk has gone out: finish, usage, [DONE], end of body.
        self.transport.write(events[-1])
        self.streaming = False
        self.server.served += 1
        self._maybe_start()  # a pipelined next request, if any

    def _fail(self, status: int, message: str) -> None:
        body = json.dumps({"error": {"message": message, "type": "invalid_request"}}).encode()
        self.transport.write(
            f"HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()


MAX_REQUEST_BYTES = 1 << 20
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class Upstream:
    def __init__(self, tokens: int, interval: float) -> None:
        self.script = Script(tokens)
        self.interval = interval
        self.started = 0
        self.served = 0

    def protocol(self) -> _StreamProtocol:
        return _StreamProtocol(self)


async def serve(port: int, tokens: int, interval: float, max_seconds: float) -> None:
    upstream = Upstream(tokens, interval)
    loop = asyncio.get_running_loop()
    # A deep backlog: hundreds of streams may open at once.
    server = await loop.create_server(upstream.protocol, "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    except TimeoutError:
        print("upstream: --max-seconds reached, exiting", file=sys.stderr)
    server.close()
    print(
        f"upstream: {upstream.started} streams started, {upstream.served} served", file=sys.stderr
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.tokens, args.interval_ms / 1000, args.max_seconds))


if __name__ == "__main__":
    main()
