"""Request bodies larger than MAX_REQUEST_BODY_BYTES are refused before they are read whole.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE (our MAX_REQUEST_BODY_BYTES) only when a view reads
the body, and by then the server has received all of it: daphne (Twisted) collects the whole
body into a temporary file before the application starts, and Django's ASGIHandler spools it
again. So the limit is enforced twice, earlier:

- in daphne, as the bytes arrive (`install_daphne_body_limit`): a Content-Length over the
  limit is answered at once, a chunked body as soon as it passes the limit, and the
  connection is closed without reading the rest;
- in an ASGI middleware (`BodyLimitMiddleware`), for any ASGI server that streams the body
  to the application: the same answer, without passing the body on to Django.

The answer is Kaiwa's usual JSON 400 `invalid`, with `Connection: close`; on the
OpenAI-compatible routes (/v1/..., /openai/deployments/...) it is OpenAI's error shape with
code `request_too_large`, which OpenAI's clients read. Two kinds of
route carry files and take more: the attachment upload
(`POST /api/conversations/{id}/attachments/`) a file of up to ATTACHMENT_MAX_BYTES (over
that: 413 `attachment_too_large`), and the OpenAI-compatible chat routes one such file as a
base64 data URL on top of MAX_REQUEST_BODY_BYTES.
"""

import io
import json
import re
from typing import Any

from django.conf import settings

CODE = "invalid"
UPLOAD_CODE = "attachment_too_large"
# The attachment upload route; its body is one file plus the multipart framing around it.
_UPLOAD_PATH = re.compile(r"^/api/conversations/[0-9a-fA-F-]{32,36}/attachments/?$")
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The OpenAI-compatible chat routes (assistant/openai_compat/urls.py).
_COMPAT_CHAT_PATH = re.compile(r"^/(v1|openai/deployments/[^/]+)/chat/completions/?$")
# Every OpenAI-compatible route: its clients expect OpenAI's error shape.
_COMPAT_PATH = re.compile(r"^/(v1|openai/deployments/[^/]+)(/|$)")
COMPAT_CODE = "request_too_large"


def _text_path(path: str | bytes | None) -> str:
    if isinstance(path, bytes):
        path = path.decode("latin-1")
    return (path or "").split("?", 1)[0]


def is_upload_path(path: str | bytes | None) -> bool:
    """True for the attachment upload route."""
    return _UPLOAD_PATH.match(_text_path(path)) is not None


def body_limit(path: str | bytes | None = None) -> int | None:
    """The largest request body accepted on `path`, in bytes (None: Django's "no limit")."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return None
    if is_upload_path(path):
        return max(int(limit), int(settings.ATTACHMENT_MAX_BYTES) + MULTIPART_OVERHEAD_BYTES)
    if _COMPAT_CHAT_PATH.match(_text_path(path)):
        # One image of ATTACHMENT_MAX_BYTES as base64 (4 characters per 3 bytes).
        return int(limit) + -(-int(settings.ATTACHMENT_MAX_BYTES) * 4 // 3)
    return int(limit)


def refusal_body(limit: int, path: str | bytes | None = None) -> bytes:
    if is_upload_path(path):
        detail = (
            f"The file is larger than the limit of {settings.ATTACHMENT_MAX_BYTES} bytes "
            "(ATTACHMENT_MAX_BYTES); it was not stored."
        )
        return json.dumps({"detail": detail, "code": UPLOAD_CODE}).encode()
    detail = (
        f"The request body is larger than the limit of {limit} bytes (MAX_REQUEST_BODY_BYTES"
        + (", and ATTACHMENT_MAX_BYTES for an image)." if limit != body_limit() else ").")
    )
    if _COMPAT_PATH.match(_text_path(path)):
        # Imported here: config is loaded before the apps whose errors it borrows.
        from assistant.openai_compat.errors import CompatError

        return json.dumps(CompatError(detail, code=COMPAT_CODE).body()).encode()
    return json.dumps({"detail": detail, "code": CODE}).encode()


def refusal_status(path: str | bytes | None) -> int:
    return 413 if is_upload_path(path) else 400


class BodyLimitMiddleware:
    """ASGI middleware for HTTP: refuse a body over the limit by its Content-Length, or as
    soon as the bytes received pass it; the application then sees the client disconnect."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        limit = body_limit(path) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = next(
            (value for key, value in scope.get("headers", []) if key.lower() == b"content-length"),
            b"",
        )
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit, path)
            return
        received = 0
        refused = False

        async def limited_receive() -> dict:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _refuse(send, limit, path)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            if not refused:  # the refusal is the answer; nothing may follow it
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _refuse(send: Any, limit: int, path: str) -> None:
    body = refusal_body(limit, path)
    await send(
        {
            "type": "http.response.start",
            "status": refusal_status(path),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_daphne_body_limit() -> None:
    """Make daphne's HTTP requests refuse oversized bodies while they arrive.

    daphne builds each request from the module-level name `daphne.http_protocol.WebRequest`
    (HTTPFactory.buildProtocol) and offers no option for this, so that name is pointed at a
    subclass. Called from config/asgi.py, which daphne imports before it accepts connections.
    """
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "kaiwa_body_limit", False):
        return
    http_protocol.WebRequest = _limited_request_class(http_protocol.WebRequest)


def _limited_request_class(base: type) -> type:
    class BodyLimitedWebRequest(base):
        """A daphne request that answers 400 once its body is known to pass the limit."""

        kaiwa_body_limit = True
        _refused = False
        _received = 0

        def _path(self) -> bytes | None:
            # The request line is parsed before the headers; Twisted keeps its path on the
            # channel until the request is built (after the body), so read it there.
            return getattr(self.channel, "_path", None)

        def gotLength(self, length: int | None) -> None:  # noqa: N802 (Twisted's name)
            self._limit_path = self._path()
            limit = body_limit(self._limit_path)
            if limit is not None and length is not None and length > limit:
                self.content = io.BytesIO()  # nothing of the body is kept
                # Twisted answers "Expect: 100-continue" right after this call; the refusal
                # is the answer instead.
                self.requestHeaders.removeHeader(b"Expect")
                self._refuse(limit)
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
            if self._refused:
                return
            self._received += len(data)
            limit = body_limit(getattr(self, "_limit_path", None))
            if limit is not None and self._received > limit:
                self.content.close()
                self.content = io.BytesIO()
                self._refuse(limit)
                return
            super().handleContentChunk(data)

        def process(self) -> Any:
            # The rest of a refused body can arrive in the same read: it was answered.
            if self._refused:
                return None
            return super().process()

        def _refuse(self, limit: int) -> None:
            self._refused = True
            path = getattr(self, "_limit_path", None)
            body = refusal_body(limit, path)
            status_line = (
                "413 Content Too Large" if refusal_status(path) == 413 else "400 Bad Request"
            )
            head = (
                f"HTTP/1.1 {status_line}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "X-Content-Type-Options: nosniff\r\n"
                "Connection: close\r\n\r\n"
            )
            # Twisted's own answer to a malformed request: write, then close without
            # reading what the client still sends.
            self.channel.transport.write(head.encode() + body)
            self.channel.loseConnection()

    return BodyLimitedWebRequest
