"""The OpenAI-compatible routes: thin async views over request, storage and relay.

Authentication is a personal API token, as `Authorization: Bearer <token>` (OpenAI's
clients) or `api-key: <token>` (Azure's); sessions and CSRF play no part.
"""

import asyncio
import uuid

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import BearerTokenAuthentication
from assistant.db_threads import in_db_thread
from assistant.limits import send_rate_check
from assistant.live.liveness import running
from assistant.openai_compat.errors import CompatError
from assistant.openai_compat.relay import Relay
from assistant.openai_compat.request import parse_request
from assistant.openai_compat.storage import call_abandon, call_start
from config.body_limit import body_limit
from conversations import allowed_models
from conversations.errors import DomainError

CONVERSATION_HEADER = "X-Kaiwa-Conversation"


def _token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("api-key", "").strip()


def _authenticate(request: HttpRequest):
    token = _token(request)
    if not token:
        raise CompatError(
            "You didn't provide an API key: a Kaiwa API token, as 'Authorization: Bearer "
            "<token>' or 'api-key: <token>'.",
            status=401,
            code="invalid_api_key",
        )
    try:
        user, _ = BearerTokenAuthentication().authenticate_credentials(token.encode())
    except AuthenticationFailed:
        raise CompatError(
            "Incorrect API key provided.", status=401, code="invalid_api_key"
        ) from None
    return user


def _conversation_id(request: HttpRequest):
    value = request.headers.get(CONVERSATION_HEADER)
    if value is None:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise CompatError(
            "No such conversation.", status=404, code="not_found", param=CONVERSATION_HEADER
        ) from None


def _start(request: HttpRequest, deployment: str | None):
    """Everything before the model call, in one thread: auth, throttle, validation,
    storage and the quota reservation."""
    user = _authenticate(request)
    send_rate_check(user=user)
    raw = _read_body(request)
    parsed = parse_request(raw, deployment=deployment)
    call = call_start(user=user, request=parsed, conversation_id=_conversation_id(request))
    # Alive until the relay stores its end: recovery never takes it for a dead runner's.
    running.add(call.reply_id)
    return user, parsed, call


def _read_body(request: HttpRequest) -> bytes:
    """The body, within the limit of these routes (config.body_limit: room for an image as
    a data URL beyond MAX_REQUEST_BODY_BYTES; Django's own check would stop at that)."""
    limit = body_limit(request.path)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if limit is None:
        return request.read()
    raw = b"" if declared > limit else request.read(limit + 1)
    if declared > limit or len(raw) > limit:
        raise CompatError(
            "The request body is larger than this server accepts.", code="request_too_large"
        )
    return raw


async def _started(request: HttpRequest, deployment: str | None):
    """`_start`, which commits in its thread even when the client goes away meanwhile (the
    view is cancelled): then its call is ended here, since no relay will end it."""
    start = asyncio.ensure_future(database_sync_to_async(_start)(request, deployment))
    try:
        return await asyncio.shield(start)
    except asyncio.CancelledError:
        await asyncio.shield(_end_unrelayed(start))
        raise


async def _end_unrelayed(start: asyncio.Future) -> None:
    try:
        _, _, call = await start
    except Exception:
        return  # refused: nothing was stored
    try:
        await in_db_thread(call_abandon)(call=call)
    finally:
        running.discard(call.reply_id)


async def _completions(request: HttpRequest, deployment: str | None) -> HttpResponse:
    if request.method != "POST":
        return CompatError(
            f"Method {request.method} not allowed.", status=405, code="method_not_allowed"
        ).response()
    try:
        try:
            user, parsed, call = await _started(request, deployment)
        except DomainError as exc:
            raise CompatError.from_domain(exc) from None
        relay = Relay(user=user, request=parsed, call=call)
        headers = {"X-Kaiwa-Conversation": str(call.conversation_id)}
        if not parsed.stream:
            return JsonResponse(await relay.complete(), headers=headers)
        body = await relay.open_stream()
    except CompatError as exc:
        return exc.response()
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["X-Kaiwa-Conversation"] = str(call.conversation_id)
    return response


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    """POST /v1/chat/completions"""
    return await _completions(request, None)


@csrf_exempt
async def azure_chat_completions(request: HttpRequest, deployment: str) -> HttpResponse:
    """POST /openai/deployments/{deployment}/chat/completions?api-version=…"""
    return await _completions(request, deployment)


async def models(request: HttpRequest) -> HttpResponse:
    """GET /v1/models: the allow-list, in OpenAI's shape."""
    try:
        await database_sync_to_async(_authenticate)(request)
    except CompatError as exc:
        return exc.response()
    data = [
        {"id": model.id, "object": "model", "created": 0, "owned_by": "kaiwa"}
        for model in allowed_models.allowed_models()
    ]
    return JsonResponse({"object": "list", "data": data})
