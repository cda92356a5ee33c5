"""JSON that Python's parser chokes on, or that holds text PostgreSQL cannot store, is a 400
`invalid` on every REST operation that reads a body, and changes nothing.

The operations come from the OpenAPI schema, so a new endpoint is tried here too.
"""

import json

import pytest
from rest_framework.test import APIClient

from tests.security.endpoints import api_operations, api_schema

DEEP = "[" * 50_000
BODY_OPERATIONS = [
    op
    for op in api_operations()
    if op.method in ("post", "put", "patch")
    and "requestBody" in api_schema()["paths"][op.path][op.method]
]


@pytest.fixture
def owner_client(owned) -> APIClient:
    client = APIClient()  # a session: the token endpoints accept nothing else
    client.force_login(owned.user)
    return client


def _with_lone_surrogates(body: dict) -> str:
    """The body with every string field replaced by a lone surrogate, as JSON sends it."""
    spoiled = {key: "\ud800" if isinstance(value, str) else value for key, value in body.items()}
    text = json.dumps(spoiled)
    assert "\\ud800" in text  # the escape, as a client writes it; the raw code point is not UTF-8
    return text


def _assert_invalid(response) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "invalid" and body["detail"], body


def test_the_schema_lists_the_operations_that_read_a_body():
    assert len(BODY_OPERATIONS) >= 12
    assert {"POST /api/chat/", "POST /api/chat/stream/", "POST /api/assistant/"} <= {
        str(op) for op in BODY_OPERATIONS
    }


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
def test_deeply_nested_json_is_400_invalid_and_changes_nothing(operation, owned, owner_client):
    before = owned.snapshot()
    url = owned.url(operation) if operation.has_object else operation.path
    call = getattr(owner_client, operation.method)
    _assert_invalid(call(url, DEEP, content_type="application/json"))
    assert owned.snapshot() == before


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
def test_a_lone_surrogate_is_400_invalid_and_nothing_is_stored(operation, owned, owner_client):
    before = owned.snapshot()
    url = owned.url(operation) if operation.has_object else operation.path
    call = getattr(owner_client, operation.method)
    body = _with_lone_surrogates(owned.body(operation))
    _assert_invalid(call(url, body, content_type="application/json"))
    assert owned.snapshot() == before


def test_a_lone_surrogate_in_a_nested_key_is_refused_too(owned, owner_client):
    body = '{"title": "ok", "meta": {"\\udfff": ["x"]}}'
    response = owner_client.post("/api/notes/", body, content_type="application/json")
    _assert_invalid(response)


def test_a_surrogate_pair_is_text_and_is_kept(owned, owner_client):
    body = '{"title": "\\ud83d\\ude00", "content": "絵文字 \\ud83d\\ude00"}'
    response = owner_client.post("/api/notes/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["content"] == "絵文字 😀"


def test_the_event_stream_start_answers_an_error_event_for_deep_json(owned, owner_client):
    response = owner_client.post(
        "/api/chat/stream/", DEEP, content_type="application/json", HTTP_ACCEPT="text/event-stream"
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/event-stream")
    event = json.loads(response.content.decode().removeprefix("data: "))
    assert event["type"] == "error" and event["code"] == "invalid"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(DEEP, id="deeply-nested"),
        pytest.param('{"type": "send", "content": "\\ud800"}', id="lone-surrogate"),
        pytest.param('{"type": "send", "content": "a\\u0000"}', id="nul-character"),
        pytest.param(
            '{"type": "send", "content": "ok", "x": ["\\udc00"]}', id="surrogate-elsewhere"
        ),
    ],
)
async def test_a_bad_socket_frame_is_an_invalid_error_and_the_socket_stays_usable(
    frame, live, upstream
):
    from asgiref.sync import sync_to_async

    from conversations.models import Message
    from tests.factories import ConversationFactory, UserFactory
    from tests.fakes.openai_server import reply
    from tests.live_server import session_cookie
    from tests.streaming_clients import WS

    owner = await sync_to_async(UserFactory)(username="ws-bad-input")
    conversation = await sync_to_async(ConversationFactory)(owner=owner)
    ws = await WS.connect(live, conversation.id, await sync_to_async(session_cookie)(owner))
    try:
        await ws.send(frame)
        error = await ws.until("error")
        assert error["code"] == "invalid" and error["message"]
        # The same socket still works: the next send becomes a turn.
        upstream.enqueue(reply("はい。"))
        await ws.send({"type": "send", "content": "普通の質問"})
        assert (await ws.until("user_message"))["message"]["content"] == "普通の質問"
        assert (await ws.until("done"))["status"] == "complete"
    finally:
        await ws.close()
    contents = await sync_to_async(list)(
        Message.objects.filter(conversation=conversation, role="user").values_list(
            "content", flat=True
        )
    )
    assert contents == ["普通の質問"]


def test_the_turn_service_refuses_a_lone_surrogate_before_storing(owned):
    from assistant.turns import turn_start
    from conversations.errors import InvalidInput

    before = owned.snapshot()
    with pytest.raises(InvalidInput, match="surrogate"):
        turn_start(user=owned.user, content="途中\udfffまで", conversation=owned.conversation)
    assert owned.snapshot() == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/api/chat/", "/api/chat/stream/", "/api/notes/"])
async def test_a_real_server_answers_deep_json_with_400_invalid(path, live):
    """Over HTTP to daphne, where the parser runs on a worker thread, not the test's."""
    import aiohttp
    from asgiref.sync import sync_to_async

    from accounts.services import api_token_create
    from tests.factories import UserFactory

    owner = await sync_to_async(UserFactory)(username="deep-json")
    _, token = await sync_to_async(api_token_create)(user=owner, name="t")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(live.url + path, data=DEEP) as response:
            assert response.status == 400
            assert (await response.json())["code"] == "invalid"
        # The server is fine afterwards.
        async with http.get(live.url + "/api/conversations/") as response:
            assert response.status == 200
