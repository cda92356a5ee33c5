"""The model of a turn: one of LLM_MODELS reaches the provider as the request's `model`;
any other is refused before anything is stored or sent."""

import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from assistant.turns import turn_start
from conversations.errors import InvalidInput
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply
from tests.streaming_clients import in_process_socket, post_event_stream

pytestmark = pytest.mark.django_db(transaction=True)

# The backend's own model (llm_upstream) is gpt-test; the first entry here is the default.
MODELS = "gpt-4o=GPT-4o,gpt-test=Test,o3-mini=o3 mini"


@pytest.fixture
def upstream(llm_upstream, settings):
    settings.LLM_MODELS = MODELS
    return llm_upstream


def _sent_model(upstream) -> str:
    (request,) = upstream.chat_requests()
    return request.json["model"]


def test_the_conversations_model_is_the_requests_model(api_client, upstream, user):
    conversation = ConversationFactory(owner=user, model="o3-mini")
    upstream.enqueue(reply("ok"))
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "hi"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert _sent_model(upstream) == "o3-mini"
    assert response.json()["assistant_message"]["model"] == "o3-mini"


def test_a_conversation_without_a_model_talks_to_the_first_entry(api_client, upstream, user):
    conversation = ConversationFactory(owner=user, model="")
    upstream.enqueue(reply("ok"))
    api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "hi"}, format="json"
    )
    assert _sent_model(upstream) == "gpt-4o"


def test_a_model_no_longer_offered_falls_back_to_the_default(api_client, upstream, user):
    conversation = ConversationFactory(owner=user, model="gpt-4-32k")  # removed from the list
    upstream.enqueue(reply("まだ使えます"))
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "hi"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["assistant_message"]["content"] == "まだ使えます"
    assert _sent_model(upstream) == "gpt-4o"
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4-32k"  # the owner's choice is left for them to change


async def test_websocket_turn_of_a_retired_model_uses_the_default(upstream, user):
    conversation = await sync_to_async(ConversationFactory)(owner=user, model="gpt-4-32k")
    upstream.enqueue(reply("ok"))
    assert await _socket_turn(user, conversation, {"type": "send", "content": "hi"}) == "ok"
    assert _sent_model(upstream) == "gpt-4o"


async def test_a_websocket_send_cannot_choose_a_model(upstream, user):
    # The socket's `send` carries content and client_id only; the model is the conversation's.
    conversation = await sync_to_async(ConversationFactory)(owner=user, model="o3-mini")
    upstream.enqueue(reply("ok"))
    command = {"type": "send", "content": "hi", "model": "gpt-4-32k"}
    assert await _socket_turn(user, conversation, command) == "ok"
    assert _sent_model(upstream) == "o3-mini"


async def _socket_turn(user, conversation, command) -> str:
    communicator = in_process_socket(user, conversation.id)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to(command)
    event = {"type": None}
    while event["type"] not in ("done", "error"):
        event = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert event["type"] == "done", event
    return event["content"]


# --- POST /api/chat/ and /api/chat/stream/ -------------------------------------------------


def test_chat_model_is_the_new_conversations_model(api_client, upstream, user):
    upstream.enqueue(reply("ok"))
    response = api_client.post("/api/chat/", {"message": "hi", "model": "o3-mini"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "o3-mini"
    assert _sent_model(upstream) == "o3-mini"
    assert Conversation.objects.get(pk=response.json()["conversation_id"]).model == "o3-mini"


def test_chat_model_in_an_existing_conversation_is_for_this_call_only(api_client, upstream, user):
    conversation = ConversationFactory(owner=user, model="gpt-test")
    upstream.enqueue(reply("ok"))
    response = api_client.post(
        "/api/chat/",
        {"message": "hi", "conversation_id": str(conversation.id), "model": "o3-mini"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert _sent_model(upstream) == "o3-mini"
    assert Message.objects.get(pk=response.json()["message_id"]).model == "o3-mini"
    conversation.refresh_from_db()
    assert conversation.model == "gpt-test"


@pytest.mark.parametrize("path", ["/api/chat/", "/api/chat/stream/"])
def test_chat_refuses_a_model_not_offered_and_calls_nothing(api_client, upstream, user, path):
    conversation = ConversationFactory(owner=user, model="gpt-test")
    for body in (
        {"message": "hi", "model": "gpt-4-32k"},
        {"message": "hi", "model": "gpt-4-32k", "conversation_id": str(conversation.id)},
    ):
        response = api_client.post(path, body, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"model"}
    assert upstream.chat_requests() == []
    assert not Message.objects.exists()
    assert Conversation.objects.count() == 1


async def test_chat_stream_model_reaches_the_provider(upstream, user):
    token = await sync_to_async(lambda: api_token_create(user=user, name="sse")[1])()
    upstream.enqueue(reply("ok"))
    events = await post_event_stream(
        "/api/chat/stream/", {"message": "hi", "model": "gpt-test"}, token=token
    )
    assert events[-1]["type"] == "done" and events[-1]["content"] == "ok"
    assert _sent_model(upstream) == "gpt-test"


def test_turn_start_refuses_a_model_not_offered_before_storing_anything(upstream, user):
    conversation = ConversationFactory(owner=user)
    with pytest.raises(InvalidInput):
        turn_start(user=user, content="hi", conversation=conversation, model="gpt-4-32k")
    with pytest.raises(InvalidInput):
        turn_start(user=user, content="hi", model="gpt-4-32k")
    assert not Message.objects.exists()
    assert Conversation.objects.count() == 1
    assert upstream.chat_requests() == []
