"""The load generator: one process driving a share of the benchmark's clients.

    python -m bench.load SPEC.json RESULT.json

Run by the driver (bench.run), never by hand. It reads its clients from SPEC.json, opens
their connections (Kaiwa clients connect their WebSocket first, as an open browser tab
would), prints ``READY`` and waits for ``GO <monotonic start time>`` on stdin, so that the
load processes start together. Each client then sends at ``start + offset`` and records,
against ``time.monotonic()`` (one clock for every process on Linux), when it sent and when
each frame arrived. It prints ``FINISHED`` when every client is done, then decodes what
arrived (JSON, SSE) — off the measured path — and writes RESULT.json.

Two kinds of client, both on bench.wire's lean asyncio protocols:

- ``kaiwa``: a WebSocket turn through Kaiwa (API.md section 5): send, then user_message,
  start, delta…, done.
- ``direct`` and ``v1``: one streamed ``POST /v1/chat/completions`` read as OpenAI's SSE
  chunks — ``direct`` straight from the fake upstream, ``v1`` through Kaiwa's
  OpenAI-compatible route (API.md section 7) with an API token. The same client code reads
  both, so the difference between them is the relay's cost alone.

Every wait is bounded: connecting, each frame, and each client as a whole.
"""

import asyncio
import json
import resource
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import wire

CONNECT_CONCURRENCY = 50


@dataclass
class ClientResult:
    index: int
    server: int = 0
    sent: float | None = None  # monotonic
    first: float | None = None  # seconds after `sent`
    done: float | None = None  # seconds after `sent`
    # Kaiwa only, seconds after `sent`: the stored user message, the reply's start event.
    user_message: float | None = None
    start: float | None = None
    arrivals: list[float] = field(default_factory=list)  # seconds after `sent`, per delta frame
    text_ok: bool = False  # the deltas concatenate to the expected reply
    final_ok: bool = False  # the closing event's content equals the expected reply
    error: str | None = None
    received_chars: int = 0
    text: str = ""  # what arrived, kept only when it differs from the expected reply
    late_events: int = 0  # Kaiwa: events received after `done` (within the linger time)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class KaiwaClient:
    def __init__(self, spec: dict[str, Any], expected: str):
        self.spec = spec
        self.expected = expected
        self.result = ClientResult(index=spec["index"], server=spec.get("server", 0))
        self.ws: wire.WebSocket | None = None

    async def connect(self, timeout: float) -> None:  # noqa: ASYNC109
        headers = {"Origin": self.spec["origin"], "Cookie": self.spec["cookie"]}
        try:
            self.ws = await asyncio.wait_for(
                wire.ws_connect(self.spec["host"], self.spec["port"], self.spec["path"], headers),
                timeout,
            )
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.result.error = f"connect: {type(exc).__name__}: {exc}"

    async def run(self, start_at: float, frame_timeout: float, deadline: float) -> None:
        if self.ws is None:
            return
        r = self.result
        await _sleep_until(start_at + self.spec["offset"])
        r.sent = time.monotonic()
        self.ws.send_text(
            json.dumps({"type": "send", "content": "bench", "client_id": str(uuid.uuid4())})
        )
        await _wait(self.ws, lambda: len(self.ws.frames), frame_timeout, deadline)
        if self.ws.error and not r.error:
            r.error = self.ws.error
        # Stay a moment, as a browser tab would: anything after `done` is a duplicate.
        await asyncio.sleep(self.spec.get("linger", 0.5))
        self.ws.send_close()
        self.ws.close()

    def digest(self) -> None:
        """Decode what arrived (after every client has finished: off the measured path)."""
        r = self.result
        if self.ws is None:
            return
        parts: list[str] = []
        last_seq = 0
        ended = False
        late: list[str] = []  # events after the reply's end: duplicates by definition
        for now, data in self.ws.frames:
            event = json.loads(data)
            kind = event.get("type")
            if ended:
                late.append(f"{kind}#{event.get('seq')}")
                continue
            if kind == "delta":
                if event["seq"] <= last_seq:
                    r.error = r.error or f"delta out of order: seq {event['seq']} after {last_seq}"
                last_seq = event["seq"]
                if r.first is None:
                    r.first = now - r.sent
                r.arrivals.append(now - r.sent)
                parts.append(event["content"])
            elif kind == "user_message" and r.user_message is None:
                r.user_message = now - r.sent
            elif kind == "start" and r.start is None:
                r.start = now - r.sent
            elif kind == "done":
                ended = True
                r.done = now - r.sent
                r.final_ok = event.get("content") == self.expected
                if event.get("status") != "complete":
                    r.error = r.error or f"done with status {event.get('status')!r}"
            elif kind == "error":
                ended = True
                r.error = r.error or f"error event: {event.get('code')}: {event.get('message')}"
        if r.done is not None and r.error and r.error.startswith("closed by server"):
            r.error = None  # closed after the reply ended (our own close, echoed)
        if late:
            r.late_events = len(late)
            shown = ", ".join(late[:3]) + (", …" if len(late) > 3 else "")
            r.error = r.error or f"events after done: {len(late)} ({shown})"
        text = "".join(parts)
        r.received_chars = len(text)
        r.text_ok = text == self.expected
        if not r.text_ok:
            r.text = text
        if r.done is None and r.error is None:
            r.error = "no done event"


class SSEClient:
    """A streamed chat completion over SSE; `spec` names where (and any headers, such as
    Kaiwa's `Authorization` and `X-Kaiwa-Conversation`)."""

    def __init__(self, spec: dict[str, Any], expected: str):
        self.spec = spec
        self.expected = expected
        self.result = ClientResult(index=spec["index"])
        self.stream: wire.SSEStream | None = None

    async def connect(self, timeout: float) -> None:  # noqa: ASYNC109
        """Nothing to open in advance: each stream is one HTTP request (as Kaiwa makes)."""

    async def run(self, start_at: float, frame_timeout: float, deadline: float) -> None:
        r = self.result
        body = {
            "model": "gpt-bench",
            "messages": [{"role": "user", "content": "bench"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        await _sleep_until(start_at + self.spec["offset"])
        r.sent = time.monotonic()
        try:
            self.stream = await asyncio.wait_for(
                wire.sse_post(
                    self.spec["host"],
                    self.spec["port"],
                    self.spec["path"],
                    body,
                    self.spec.get("headers"),
                ),
                frame_timeout,
            )
        except (TimeoutError, OSError) as exc:
            r.error = f"connect: {type(exc).__name__}: {exc}"
            return
        await _wait(self.stream, lambda: len(self.stream.reads), frame_timeout, deadline)
        r.error = self.stream.error
        self.stream.close()

    def digest(self) -> None:
        """Split the raw reads into SSE events; an event's time is when its end arrived."""
        r = self.result
        if self.stream is None:
            return
        status, events = self.stream.events()
        if status != 200:
            r.error = r.error or f"HTTP {status}"
        try:
            chunks, done = wire.chunk_text(events) if status == 200 else ([], None)
        except ValueError as exc:
            chunks, done = [], None
            r.error = r.error or f"malformed chunk: {exc}"
        if done is not None:
            r.done = done - r.sent
        if chunks:
            r.first = chunks[0][0] - r.sent
        r.arrivals = [now - r.sent for now, _ in chunks]
        parts = [content for _, content in chunks]
        if r.done is None and r.error is None:
            r.error = "stream ended without [DONE]"
        text = "".join(parts)
        r.received_chars = len(text)
        r.text_ok = r.final_ok = text == self.expected
        if not r.text_ok:
            r.text = text


async def _wait(proto, progress, frame_timeout: float, deadline: float) -> None:
    """Until `proto` finishes; time out when nothing arrives for `frame_timeout` seconds."""
    seen = -1
    while not proto.finished.done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            proto.finish("timeout: client deadline")
            return
        now_seen = progress()
        if now_seen == seen:
            proto.finish(f"timeout: nothing for {frame_timeout:g} s")
            return
        seen = now_seen
        try:
            await asyncio.wait_for(asyncio.shield(proto.finished), min(frame_timeout, remaining))
        except TimeoutError:
            pass


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _read_go(timeout: float) -> float:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout)
    word, _, value = line.strip().partition(" ")
    if word != "GO":
        raise SystemExit(f"load: expected 'GO <time>' on stdin, got {line!r}")
    return float(value)


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    expected = spec["expected"]
    cls = KaiwaClient if spec["mode"] == "kaiwa" else SSEClient
    clients = [cls(c, expected) for c in spec["clients"]]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(client):
        async with gate:
            await client.connect(spec["connect_timeout"])

    await asyncio.gather(*(connect(c) for c in clients))
    print("READY", flush=True)
    start_at = await _read_go(spec["go_timeout"])
    cpu_before = _cpu_seconds()
    deadline = start_at + spec["client_timeout"]
    await asyncio.gather(*(c.run(start_at, spec["frame_timeout"], deadline) for c in clients))
    cpu = _cpu_seconds() - cpu_before
    print("FINISHED", flush=True)
    for client in clients:
        client.digest()
    return {
        "mode": spec["mode"],
        "start_at": start_at,
        "cpu_seconds": cpu,
        "clients": [asdict(c.result) for c in clients],
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: python -m bench.load SPEC.json RESULT.json")
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    result = asyncio.run(main_async(spec))
    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
