"""Our own limits (throttles, daily token quota, WebSocket send rate) and the metrics endpoint."""

import pytest

from accounts.models import UserQuota
from conversations.models import Message
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply
from tests.streaming_clients import in_process_socket
from usage.services import usage_record

pytestmark = pytest.mark.django_db(transaction=True)


def _rates(settings, **rates):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_chat_is_throttled_per_user_with_retry_after(api_client, other_client, settings):
    _rates(settings, chat="2/min")
    for _ in range(2):
        assert api_client.post("/api/chat/", {"message": "hi"}, format="json").status_code == 200
    third = api_client.post("/api/chat/", {"message": "hi"}, format="json")
    assert third.status_code == 429
    assert third.json()["code"] == "throttled" and int(third["Retry-After"]) > 0
    # Per user: someone else is not affected; reading is never throttled.
    assert other_client.post("/api/chat/", {"message": "hi"}, format="json").status_code == 200
    assert api_client.get("/api/conversations/").status_code == 200


def test_daily_token_quota_refuses_before_any_model_call(api_client, llm_upstream, user, settings):
    settings.DAILY_TOKEN_QUOTA = 100
    conversation = ConversationFactory(owner=user)
    usage_record(user=user, kind="chat", model="gpt-test", prompt_tokens=60, completion_tokens=40)
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "もう一回"}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and "quota" in response.json()["detail"]
    assert 0 < int(response["Retry-After"]) <= 86400
    assert llm_upstream.chat_requests() == []
    assert Message.objects.filter(conversation=conversation).count() == 0


def test_per_user_quota_overrides_the_default(api_client, llm_upstream, user, settings):
    settings.DAILY_TOKEN_QUOTA = 100
    UserQuota.objects.create(user=user, daily_token_limit=0)  # unlimited for this user
    conversation = ConversationFactory(owner=user)
    usage_record(user=user, kind="chat", model="gpt-test", prompt_tokens=600, completion_tokens=400)
    llm_upstream.enqueue(reply("どうぞ"))
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/",
        {"content": "まだ使える？"},
        format="json",
    )
    assert response.status_code == 201


def test_yesterdays_tokens_do_not_count(api_client, user, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.DAILY_TOKEN_QUOTA = 100
    usage_record(
        user=user,
        kind="chat",
        model="gpt-test",
        prompt_tokens=500,
        completion_tokens=500,
        day=timezone.localdate() - timedelta(days=1),
    )
    assert api_client.post("/api/chat/", {"message": "今日は？"}, format="json").status_code == 200


async def test_websocket_sends_are_rate_limited(settings, user, django_user_model):
    from asgiref.sync import sync_to_async

    _rates(settings, chat="1/min")
    conversation = await sync_to_async(ConversationFactory)(owner=user)
    communicator = in_process_socket(user, conversation.id)  # the user is put in the scope
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "send", "content": "一回目"})
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=5)
        events.append(event)
        if event["type"] == "done":
            break
    await communicator.send_json_to({"type": "send", "content": "二回目"})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "throttled"
    await communicator.disconnect()
    count = await sync_to_async(
        Message.objects.filter(conversation=conversation, role="user").count
    )()
    assert count == 1


def test_metrics_are_exposed_to_loopback_and_count_turns(api_client, client):
    api_client.post("/api/chat/", {"message": "数えて"}, format="json")
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    text = response.content.decode()
    assert "kaiwa_active_turns" in text and "kaiwa_time_to_first_token_seconds" in text
    finished = [
        line
        for line in text.splitlines()
        if line.startswith('kaiwa_turns_finished_total{status="complete"}')
    ]
    assert finished and float(finished[0].split()[-1]) >= 1
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


def test_metrics_token_is_required_when_set(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    ok = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret", REMOTE_ADDR="203.0.113.9"
    )
    assert ok.status_code == 200
