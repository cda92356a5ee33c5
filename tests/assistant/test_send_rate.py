"""One send rate per user: REST, SSE, the WebSocket and /api/assistant/ draw on one bucket."""

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts.services import api_token_create
from conversations.models import Message
from tests.factories import ConversationFactory
from tests.streaming_clients import in_process_socket, post_event_stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _chat_rate(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "chat": rate,
        },
    }


async def _post(path: str, body: dict, token: str, **headers):
    return await AsyncClient().post(
        path,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", **headers},
    )


async def _socket_send(socket, content: str) -> dict:
    """Send on the socket; the `done` of the turn, or the error event that refused it."""
    await socket.send_json_to({"type": "send", "content": content})
    while True:
        event = await socket.receive_json_from(timeout=10)
        if event["type"] in ("done", "error"):
            return event


async def test_sends_over_rest_sse_socket_and_assistant_share_one_bucket(
    settings, user, other_user
):
    _chat_rate(settings, "4/hour")
    _, token = await sync_to_async(api_token_create)(user=user, name="t")
    _, other_token = await sync_to_async(api_token_create)(user=other_user, name="t")
    conversation = await sync_to_async(ConversationFactory)(owner=user)
    socket = in_process_socket(user, conversation.id)
    assert (await socket.connect())[0]
    try:
        # Four sends, one per way in: the limit.
        assert (await _post("/api/chat/", {"message": "一"}, token)).status_code == 200
        events = await post_event_stream("/api/chat/stream/", {"message": "二"}, token=token)
        assert events[-1]["type"] == "done"
        assert (await _socket_send(socket, "三"))["type"] == "done"
        assert (await _post("/api/assistant/", {"message": "四"}, token)).status_code == 200

        # The fifth is refused, whichever way it comes.
        path = f"/api/conversations/{conversation.id}/messages/"
        refused = await _post(path, {"content": "五"}, token)
        assert refused.status_code == 429 and refused.json()["code"] == "throttled"
        assert int(refused["Retry-After"]) > 0
        refused = await _post(f"{path}stream/", {"content": "五"}, token)
        assert refused.status_code == 429 and refused.json()["code"] == "throttled"
        refused = await _post("/api/chat/", {"message": "五"}, token)
        assert refused.status_code == 429
        refused = await _post("/api/assistant/", {"message": "五"}, token)
        assert refused.status_code == 429 and refused.json()["code"] == "throttled"
        error = await _socket_send(socket, "五")
        assert error["type"] == "error" and error["code"] == "throttled"
    finally:
        await socket.disconnect()

    stored = await sync_to_async(
        lambda: sorted(
            Message.objects.filter(conversation__owner=user, role="user").values_list(
                "content", flat=True
            )
        )
    )()
    assert stored == sorted(["一", "二", "三", "四"])
    # Per user: someone else still sends.
    assert (await _post("/api/chat/", {"message": "別人"}, other_token)).status_code == 200


async def test_the_socket_counts_against_rest_too(settings, user):
    _chat_rate(settings, "1/hour")
    _, token = await sync_to_async(api_token_create)(user=user, name="t")
    conversation = await sync_to_async(ConversationFactory)(owner=user)
    socket = in_process_socket(user, conversation.id)
    assert (await socket.connect())[0]
    try:
        assert (await _socket_send(socket, "一")).get("status") == "complete"
    finally:
        await socket.disconnect()
    refused = await _post("/api/chat/", {"message": "二"}, token)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    # The window opened with the socket's send and lasts the hour.
    assert 3500 < int(refused["Retry-After"]) <= 3600
