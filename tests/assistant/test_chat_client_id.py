"""POST /api/chat/ and /api/chat/stream/ with a client_id and no conversation: a retry gets the
first turn, per user, with one model call, also when the two requests race."""

import threading
import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from conversations.models import Conversation, Message
from tests.fakes.openai_server import reply
from tests.streaming_clients import post_event_stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _user_messages(user) -> list[str]:
    return list(
        Message.objects.filter(conversation__owner=user, role="user").values_list(
            "content", flat=True
        )
    )


def test_a_retried_chat_returns_the_first_turn_without_a_second_model_call(
    api_client, llm_upstream, user
):
    llm_upstream.enqueue(reply("最初の返事"), reply("二度目があってはならない"))
    body = {"message": "こんにちは", "client_id": str(uuid.uuid4())}
    first = api_client.post("/api/chat/", body, format="json")
    retry = api_client.post("/api/chat/", body, format="json")
    assert first.status_code == retry.status_code == 200, retry.content
    assert retry.json()["conversation_id"] == first.json()["conversation_id"]
    assert retry.json()["message_id"] == first.json()["message_id"]
    assert retry.json()["message"] == "最初の返事"
    assert len(llm_upstream.chat_requests()) == 1
    assert Conversation.objects.filter(owner=user).count() == 1
    assert _user_messages(user) == ["こんにちは"]


def test_another_users_same_client_id_is_their_own_turn(
    api_client, other_client, llm_upstream, user, other_user
):
    llm_upstream.enqueue(reply("alice へ"), reply("mallory へ"))
    body = {"message": "同じ client_id", "client_id": str(uuid.uuid4())}
    mine = api_client.post("/api/chat/", body, format="json").json()
    theirs = other_client.post("/api/chat/", body, format="json").json()
    assert theirs["conversation_id"] != mine["conversation_id"]
    assert (mine["message"], theirs["message"]) == ("alice へ", "mallory へ")
    assert len(llm_upstream.chat_requests()) == 2
    assert Conversation.objects.get(pk=theirs["conversation_id"]).owner == other_user


def test_without_a_client_id_every_chat_is_a_new_conversation(api_client, user):
    for _ in range(2):
        assert api_client.post("/api/chat/", {"message": "やあ"}, format="json").status_code == 200
    assert Conversation.objects.filter(owner=user).count() == 2


def test_two_racing_chats_with_one_client_id_make_one_turn(api_client, llm_upstream, user):
    # The first reply is slow, so the second request arrives while the first turn runs.
    llm_upstream.enqueue(reply("ゆっくり", delay=0.5), reply("二度目があってはならない"))
    body = {"message": "同時に", "client_id": str(uuid.uuid4())}
    barrier = threading.Barrier(2)
    answers: list = []

    def send():
        barrier.wait()
        answers.append(api_client.post("/api/chat/", body, format="json"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status_code for a in answers] == [200, 200], [a.content for a in answers]
    assert {a.json()["message_id"] for a in answers} == {answers[0].json()["message_id"]}
    assert {a.json()["message"] for a in answers} == {"ゆっくり"}
    assert len(llm_upstream.chat_requests()) == 1
    assert _user_messages(user) == ["同時に"]


async def test_a_retried_chat_stream_replays_the_first_turn(llm_upstream, user):
    _, token = await sync_to_async(api_token_create)(user=user, name="t")
    llm_upstream.enqueue(reply("ストリーム", chunks=["スト", "リーム"]), reply("二度目"))
    body = {"message": "流して", "client_id": str(uuid.uuid4())}
    first = await post_event_stream("/api/chat/stream/", body, token=token)
    retry = await post_event_stream("/api/chat/stream/", body, token=token)
    first_done, retry_done = first[-1], retry[-1]
    assert first_done["type"] == retry_done["type"] == "done"
    assert retry_done["message_id"] == first_done["message_id"]
    assert retry_done["content"] == "ストリーム"
    assert len(llm_upstream.chat_requests()) == 1
    assert await sync_to_async(_user_messages)(user) == ["流して"]


def test_a_client_id_whose_conversation_was_cleared_is_400_not_a_new_turn(
    api_client, llm_upstream, user
):
    llm_upstream.enqueue(reply("一度目"))
    body = {"message": "消される", "client_id": str(uuid.uuid4())}
    first = api_client.post("/api/chat/", body, format="json").json()
    cleared = api_client.post(f"/api/conversations/{first['conversation_id']}/clear/")
    assert cleared.status_code == 200
    retry = api_client.post("/api/chat/", body, format="json")
    assert retry.status_code == 400 and retry.json()["code"] == "invalid", retry.content
    assert len(llm_upstream.chat_requests()) == 1
    assert Conversation.objects.filter(owner=user).count() == 1
