"""Lean loopback clients for the load generator: an SSE reader and a WebSocket client.

Hundreds of streams at tens of tokens a second are tens of thousands of frames a second
on the same two cores as the server under test. With aiohttp's client the load process
spent about 44 µs of CPU per read (its `StreamReader` and a task wake-up per frame) and
became the bottleneck of the direct baseline at N=500. These protocols do only what must
happen on arrival — note the time, keep the bytes, answer pings, notice the end — and
leave HTTP de-chunking, WebSocket framing and JSON to `digest()` after the run.

Both speak plain HTTP/1.1 on 127.0.0.1 only; they are benchmark instruments, not general
clients.
"""

import asyncio
import base64
import bisect
import json
import os
import struct
import time
from typing import Any

# Kaiwa's consumer serialises events with `type` first: deltas are recognised without JSON.
DELTA_PREFIX = b'{"type": "delta"'


class _Timed(asyncio.Protocol):
    """Keeps every read with its arrival time (time.monotonic())."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reads: list[tuple[float, bytes]] = []
        self.finished: asyncio.Future = asyncio.get_running_loop().create_future()
        self.error: str | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None
        if not self.finished.done():
            self.error = self.error or f"connection lost: {exc or 'closed by peer'}"
            self.finished.set_result(None)

    def finish(self, error: str | None = None) -> None:
        """End the read (idempotent); the first error given is the one kept."""
        if error and not self.error:
            self.error = error
        if not self.finished.done():
            self.finished.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# --- SSE over HTTP/1.1 (the direct baseline and Kaiwa's /v1 route) ---------------------


class SSEStream(_Timed):
    """One POST whose chunked `text/event-stream` answer is read to its terminator."""

    def data_received(self, data: bytes) -> None:
        self.reads.append((time.monotonic(), data))
        # The terminating zero-length chunk may straddle reads: look at the last bytes.
        tail = data if len(data) >= 5 else b"".join(r for _, r in self.reads[-5:])
        if tail.endswith(b"\r\n0\r\n\r\n") or tail == b"0\r\n\r\n":
            self.finish()

    def events(self) -> tuple[int, list[tuple[float, bytes]]]:
        """(HTTP status, [(arrival time, SSE event data)]) from the reads."""
        raw = b"".join(r for _, r in self.reads)
        ends = []
        offset = 0
        for _, data in self.reads:
            offset += len(data)
            ends.append(offset)

        def arrival(position: int) -> float:
            return self.reads[bisect.bisect_left(ends, position)][0]

        head_end = raw.find(b"\r\n\r\n")
        if head_end < 0:
            return 0, []
        status = int(raw[: raw.find(b"\r\n")].split(b" ")[1])
        # De-chunk, remembering where in `raw` each body byte came from.
        body = bytearray()
        body_origin: list[tuple[int, int]] = []  # (body offset, raw offset) per chunk
        pos = head_end + 4
        while pos < len(raw):
            line_end = raw.find(b"\r\n", pos)
            if line_end < 0:
                break
            size = int(raw[pos:line_end].split(b";")[0], 16)
            if size == 0:
                break
            start = line_end + 2
            body_origin.append((len(body), start))
            body += raw[start : start + size]
            pos = start + size + 2
        starts = [b for b, _ in body_origin]
        events = []
        cursor = 0
        while True:
            end = body.find(b"\n\n", cursor)
            if end < 0:
                break
            i = bisect.bisect_right(starts, end + 1) - 1
            raw_pos = body_origin[i][1] + (end + 1 - body_origin[i][0])
            for line in bytes(body[cursor:end]).split(b"\n"):
                if line.startswith(b"data: "):
                    events.append((arrival(raw_pos), line[6:]))
            cursor = end + 2
        return status, events


def chunk_text(events: list[tuple[float, bytes]]) -> tuple[list[tuple[float, str]], float | None]:
    """OpenAI `chat.completion.chunk` SSE events to ([(arrival, content)], arrival of [DONE]).

    Only non-empty `delta.content` counts as a token: the role chunk, the finish chunk and
    the usage chunk (empty `choices`) carry none.
    """
    parts: list[tuple[float, str]] = []
    done = None
    for now, payload in events:
        if payload == b"[DONE]":
            done = now
            continue
        for choice in json.loads(payload).get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                parts.append((now, content))
    return parts, done


async def sse_post(
    host: str, port: int, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> SSEStream:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(SSEStream, host, port)
    payload = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    proto.transport.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\n{extra}Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return proto


# --- WebSocket (RFC 6455), the client side ----------------------------------------------


class WebSocket(_Timed):
    """A client WebSocket: masked text frames out; frames in are timed and kept.

    Frames are split on arrival only far enough to answer pings, see a close, and tell a
    delta from the events that end a reply (decoded with JSON: a handful per reply).
    """

    def __init__(self) -> None:
        super().__init__()
        self.handshake: asyncio.Future = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.upgraded = False
        self.frames: list[tuple[float, bytes]] = []
        self.close_code: int | None = None
        self.fragments: list[bytes] = []

    def connection_lost(self, exc) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            status_line = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status_line + b" ":
                self.handshake.set_exception(ConnectionError(status_line.decode("latin-1")))
                self.close()
                return
            self.upgraded = True
            self.handshake.set_result(None)
        self._parse(now)

    def _parse(self, now: float) -> None:
        buf = self.buffer
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            header = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                header = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                header = 10
            if b1 & 0x80:  # a masked server frame is a protocol error; not expected
                self.finish("server sent a masked frame")
                break
            if len(buf) - pos < header + length:
                break
            payload = buf[pos + header : pos + header + length]
            pos += header + length
            self._frame(now, b0 & 0x80, b0 & 0x0F, payload)
        self.buffer = buf[pos:]

    def _frame(self, now: float, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (0x1, 0x2, 0x0):
            self.fragments.append(payload)
            if not fin:
                return
            message = b"".join(self.fragments)
            self.fragments.clear()
            self.frames.append((now, message))
            if not message.startswith(DELTA_PREFIX):
                try:
                    kind = json.loads(message).get("type")
                except ValueError:
                    kind = None
                if kind in ("done", "error"):
                    self.finish()
        elif opcode == 0x9:  # ping
            self._send(0xA, payload)
        elif opcode == 0x8:  # close
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            self._send(0x8, payload[:2])
            self.finish(f"closed by server (code {self.close_code})")
            self.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None:
            return
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def send_close(self) -> None:
        self._send(0x8, struct.pack("!H", 1000))


async def ws_connect(host: str, port: int, path: str, headers: dict[str, str]) -> WebSocket:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(WebSocket, host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    proto.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        await proto.handshake
    except BaseException:
        proto.close()
        raise
    return proto
