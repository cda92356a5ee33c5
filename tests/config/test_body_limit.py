"""Bodies over MAX_REQUEST_BODY_BYTES are refused before they are read whole: by daphne as
they arrive (raw sockets against a live server), and by the ASGI middleware."""

import asyncio
import json
import select
import socket
import time

import pytest
from django.core.asgi import get_asgi_application

from config.body_limit import BodyLimitMiddleware

LIMIT = 256 * 1024  # MAX_REQUEST_BODY_BYTES's default, which the live server uses


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response; the server closes after it."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def open_request(live, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=5)
    sock.sendall(head.encode() + b"\r\n")
    return sock


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("expect", ["", "Expect: 100-continue\r\n"])
def test_a_declared_length_over_the_limit_is_refused_before_the_body_arrives(live, expect):
    sock = open_request(
        live,
        "POST /api/conversations/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: 1000000000\r\n{expect}",
    )
    started = time.monotonic()
    try:
        if not expect:
            sock.sendall(b'{"title": "')  # a few bytes of the gigabyte announced
        # With Expect: 100-continue the client waits: the refusal comes instead of a
        # "100 Continue" (nothing follows the JSON body).
        status, headers, body = read_response(sock)
    finally:
        sock.close()

    assert time.monotonic() - started < 3  # not waiting for the rest (recv would time out)
    assert status == 400 and headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    answer = json.loads(body)
    assert answer["code"] == "invalid" and "MAX_REQUEST_BODY_BYTES" in answer["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(live):
    sock = open_request(
        live,
        "POST /api/conversations/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    )
    chunk = b"x" * 32 * 1024
    sent = 0
    try:
        # Up to 4 MiB, never ended; stop sending once the server has answered.
        for _ in range(128):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                break
        status, headers, body = read_response(sock)
    finally:
        sock.close()

    assert LIMIT < sent <= LIMIT + 4 * len(chunk)
    assert status == 400 and json.loads(body)["code"] == "invalid"


@pytest.mark.django_db(transaction=True)
def test_a_body_within_the_limit_still_reaches_django(live):
    body = json.dumps({"title": "x" * 1000}).encode()
    sock = open_request(
        live,
        "POST /api/conversations/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n",
    )
    try:
        sock.sendall(body)
        status, _, answer = read_response(sock)
    finally:
        sock.close()
    # Django answered (no credentials), not the limit.
    assert status == 401 and json.loads(answer)["code"] == "not_authenticated"


# -- the ASGI middleware, for servers that stream the body to the application ---------------


async def call(
    settings, *, headers: list, messages: list[dict], path: str = "/api/conversations/"
) -> tuple[list[dict], int]:
    """What the middleware around Django sends, and how many body messages it received."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    pending = list(messages)
    received = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal received
        received += 1
        if not pending:
            await asyncio.Event().wait()  # the client stays connected
        return pending.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ["127.0.0.1", 50000],
        "server": ["testserver", 80],
    }
    await BodyLimitMiddleware(get_asgi_application())(scope, receive, send)
    return sent, received


def part(body: bytes, more: bool = True) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_middleware_refuses_a_declared_length_without_reading(settings):
    sent, received = await call(
        settings, headers=[(b"content-length", b"101")], messages=[part(b"x" * 101, False)]
    )
    assert received == 0
    assert sent[0]["status"] == 400 and json.loads(sent[1]["body"])["code"] == "invalid"
    assert len(sent) == 2


async def test_middleware_refuses_a_stream_once_it_passes_the_limit(settings):
    sent, received = await call(
        settings, headers=[], messages=[part(b"x" * 40), part(b"x" * 40), part(b"x" * 40)] * 5
    )
    assert received == 3  # the third part passed 100 bytes; nothing more was read
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 400 and b"MAX_REQUEST_BODY_BYTES" in sent[1]["body"]


@pytest.mark.django_db(transaction=True)
async def test_middleware_passes_a_body_within_the_limit(settings):
    sent, _ = await call(settings, headers=[], messages=[part(b"{}", False)])
    assert sent[0]["status"] == 401  # Django's answer: no credentials


# -- the attachment upload route takes files up to ATTACHMENT_MAX_BYTES ---------------------

UPLOAD_PATH = "/api/conversations/00000000-0000-0000-0000-000000000000/attachments/"


@pytest.mark.django_db(transaction=True)
def test_an_upload_over_attachment_max_bytes_is_refused_naming_that_limit(live):
    sock = open_request(
        live,
        f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000000\r\n",
    )
    try:
        status, _, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413
    answer = json.loads(body)
    assert answer["code"] == "attachment_too_large" and "ATTACHMENT_MAX_BYTES" in answer["detail"]


@pytest.mark.django_db(transaction=True)
def test_an_upload_over_max_request_body_bytes_reaches_django(live):
    body = (
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + b"x" * (LIMIT * 2) + b"\r\n--x--\r\n"
    )
    sock = open_request(
        live,
        f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {len(body)}\r\n",
    )
    try:
        sock.sendall(body)
        status, _, answer = read_response(sock)
    finally:
        sock.close()
    assert status == 401 and json.loads(answer)["code"] == "not_authenticated", answer


async def test_middleware_lets_an_upload_pass_max_request_body_bytes(settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    sent, received = await call(
        settings,
        headers=[(b"content-length", b"500")],
        messages=[part(b"x" * 500, False)],
        path=UPLOAD_PATH,
    )
    assert sent[0]["status"] not in (400, 413), sent
    refused, _ = await call(
        settings,
        headers=[(b"content-length", b"200000")],
        messages=[part(b"x", False)],
        path=UPLOAD_PATH,
    )
    assert refused[0]["status"] == 413
    assert json.loads(refused[1]["body"])["code"] == "attachment_too_large"


# -- the OpenAI-compatible routes answer in OpenAI's error shape ----------------------------

COMPAT_PATHS = ["/v1/chat/completions", "/openai/deployments/gpt/chat/completions"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", COMPAT_PATHS)
def test_a_compat_body_over_the_limit_is_refused_in_openai_shape_by_daphne(live, path):
    sock = open_request(
        live,
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000000000\r\n",
    )
    try:
        status, headers, body = read_response(sock)
    finally:
        sock.close()
    assert status == 400 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large" and error["type"] == "invalid_request_error"
    assert "MAX_REQUEST_BODY_BYTES" in error["message"]


@pytest.mark.parametrize("path", COMPAT_PATHS)
async def test_middleware_refuses_a_compat_body_in_openai_shape(settings, path):
    settings.ATTACHMENT_MAX_BYTES = 30  # the compat chat limit: 100 + 40 (base64 of 30)
    sent, received = await call(
        settings, headers=[(b"content-length", b"141")], messages=[part(b"x", False)], path=path
    )
    assert received == 0
    assert sent[0]["status"] == 400
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "request_too_large" and error["param"] is None
