"""A conversation whose reply belonged to a dead process is not stuck: a send (REST, SSE,
WebSocket) or a delete first recovers that reply instead of answering 409."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts.services import api_token_create
from assistant.live.liveness import alive_among
from assistant.live.liveness import running as live_runners
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.openai_server import reply
from tests.streaming_clients import in_process_socket, post_event_stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _busy_conversation(user, *, heartbeat_age: float) -> tuple[Conversation, Message]:
    """A conversation whose active reply is streaming with a heartbeat this old."""
    conversation = ConversationFactory(owner=user)
    question = MessageFactory(conversation=conversation, content="前の質問")
    stuck = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content="途中まで",
        reply_to=question,
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
    )
    Conversation.objects.filter(pk=conversation.pk).update(active_turn=stuck)
    return conversation, stuck


@pytest.fixture
def stale_after(settings):
    settings.STREAM_STALE_AFTER_SECONDS = 5
    return 5


def _assert_interrupted(stuck: Message) -> None:
    stuck.refresh_from_db()
    assert stuck.status == Message.Status.INTERRUPTED and stuck.content == "途中まで"


def test_a_rest_send_recovers_a_dead_reply_and_answers_201(
    api_client, llm_upstream, user, stale_after
):
    conversation, stuck = _busy_conversation(user, heartbeat_age=60)
    assert alive_among([stuck.pk]) == set()  # no process runs it
    llm_upstream.enqueue(reply("続きです"))
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "続けて"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["assistant_message"]["content"] == "続きです"
    _assert_interrupted(stuck)


def test_a_live_reply_still_answers_409(api_client, llm_upstream, user, stale_after):
    conversation, fresh = _busy_conversation(user, heartbeat_age=1)
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "割り込み"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "turn_in_progress"
    # Old heartbeat, but this process says it runs the reply: alive, so still 409.
    _, running = _busy_conversation(user, heartbeat_age=60)
    live_runners.add(running.pk)
    try:
        response = api_client.post(
            f"/api/conversations/{running.conversation_id}/messages/",
            {"content": "割り込み"},
            format="json",
        )
    finally:
        live_runners.discard(running.pk)
    assert response.status_code == 409
    assert llm_upstream.chat_requests() == []
    fresh.refresh_from_db()
    assert fresh.status == Message.Status.STREAMING


async def test_an_event_stream_send_recovers_a_dead_reply(llm_upstream, user, stale_after):
    conversation, stuck = await sync_to_async(_busy_conversation)(user, heartbeat_age=60)
    _, token = await sync_to_async(api_token_create)(user=user, name="t")
    llm_upstream.enqueue(reply("SSE で続き"))
    events = await post_event_stream(
        f"/api/conversations/{conversation.id}/messages/stream/", {"content": "続けて"}, token=token
    )
    assert events[-1]["type"] == "done" and events[-1]["content"] == "SSE で続き"
    await sync_to_async(_assert_interrupted)(stuck)


async def test_a_socket_send_recovers_a_dead_reply(llm_upstream, user, settings):
    # Stale only after the socket connected: connecting would have recovered it already.
    settings.STREAM_STALE_AFTER_SECONDS = 600
    conversation, stuck = await sync_to_async(_busy_conversation)(user, heartbeat_age=60)
    socket = in_process_socket(user, conversation.id)
    assert (await socket.connect())[0]
    try:
        snapshot = await socket.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot" and snapshot["message_id"] == str(stuck.pk)
        settings.STREAM_STALE_AFTER_SECONDS = 5
        llm_upstream.enqueue(reply("ソケットで続き"))
        await socket.send_json_to({"type": "send", "content": "続けて"})
        while True:
            event = await socket.receive_json_from(timeout=10)
            assert event["type"] != "error", event
            if event["type"] == "done" and event["message_id"] != str(stuck.pk):
                break
        assert event["content"] == "ソケットで続き"
    finally:
        await socket.disconnect()
    await sync_to_async(_assert_interrupted)(stuck)


def test_delete_and_clear_recover_a_dead_reply(api_client, user, stale_after):
    conversation, stuck = _busy_conversation(user, heartbeat_age=60)
    response = api_client.post(f"/api/conversations/{conversation.id}/clear/")
    assert response.status_code == 200 and response.json()["deleted"] == 2
    conversation, stuck = _busy_conversation(user, heartbeat_age=60)
    assert api_client.delete(f"/api/conversations/{conversation.id}/").status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_delete_of_a_live_turn_is_still_409(api_client, user, stale_after):
    conversation, _ = _busy_conversation(user, heartbeat_age=1)
    response = api_client.delete(f"/api/conversations/{conversation.id}/")
    assert response.status_code == 409 and response.json()["code"] == "turn_in_progress"
    assert Conversation.objects.filter(pk=conversation.pk).exists()
