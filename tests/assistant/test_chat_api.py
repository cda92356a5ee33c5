"""POST /api/chat/ and POST /api/conversations/{id}/messages/ through the real SDK over the wire."""

import json
import logging
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from conversations.models import Conversation, Message
from tests.conftest import TEST_API_KEY
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.openai_server import (
    azure_content_filter_error,
    content_filter_finish,
    error,
    hang,
    invalid_api_key_error,
    rate_limit_error,
    reply,
)
from tests.streaming_clients import in_process_socket, post_event_stream

pytestmark = pytest.mark.django_db(transaction=True)


def test_chat_creates_a_conversation_and_stores_the_exchange(api_client, llm_upstream, user):
    llm_upstream.enqueue(reply("はい、元気です。", usage=(11, 7)))
    response = api_client.post("/api/chat/", {"message": "元気ですか？"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "はい、元気です。"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert body["model"]
    conversation = Conversation.objects.get(pk=body["conversation_id"], owner=user)
    messages = list(conversation.messages.order_by("created_at"))
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "元気ですか？", "complete"),
        ("assistant", "はい、元気です。", "complete"),
    ]
    reply_row = messages[1]
    assert str(reply_row.pk) == body["message_id"]
    assert reply_row.finish_reason == "stop" and reply_row.latency_ms is not None
    assert conversation.active_turn_id is None
    sent = llm_upstream.chat_requests()[-1].json
    assert sent["messages"][0] == {"role": "system", "content": conversation.system_prompt}


def test_history_is_sent_on_the_second_turn(api_client, llm_upstream):
    llm_upstream.enqueue(reply("東京です。"), reply("約1400万人です。"))
    first = api_client.post("/api/chat/", {"message": "日本の首都は？"}, format="json").json()
    api_client.post(
        "/api/chat/",
        {"message": "人口は？", "conversation_id": first["conversation_id"]},
        format="json",
    )
    sent = llm_upstream.chat_requests()[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "日本の首都は？"),
        ("assistant", "東京です。"),
        ("user", "人口は？"),
    ]


def test_per_call_parameters_reach_the_model(api_client, llm_upstream):
    llm_upstream.enqueue(reply("ok"))
    api_client.post(
        "/api/chat/",
        {"message": "x", "temperature": 0.1, "max_tokens": 42, "system_prompt": "You are terse."},
        format="json",
    )
    sent = llm_upstream.chat_requests()[-1].json
    assert sent["temperature"] == 0.1 and sent["max_tokens"] == 42
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}


HISTORY_THEN_X = [
    ("user", "earlier question"),
    ("assistant", "earlier answer"),
    ("user", "x"),
]


def test_chat_hands_the_context_it_read_to_the_runner(api_client, llm_upstream, user):
    conversation, _ = _conversation_with_history(user)
    llm_upstream.enqueue(reply("ok"))
    response = api_client.post(
        "/api/chat/",
        {"message": "x", "conversation_id": str(conversation.id), "system_prompt": "Be terse."},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "ok"
    assert _sent_messages(llm_upstream) == [("system", "Be terse."), *HISTORY_THEN_X]


def test_send_hands_the_context_it_read_to_the_runner(api_client, llm_upstream, user):
    conversation, _ = _conversation_with_history(user)
    llm_upstream.enqueue(reply("ok"))
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "x"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["assistant_message"]["content"] == "ok"
    assert _sent_messages(llm_upstream) == [("system", "stored prompt"), *HISTORY_THEN_X]


async def test_send_stream_hands_the_context_it_read_to_the_runner(llm_upstream, user):
    conversation, token = await sync_to_async(_conversation_with_history)(user)
    llm_upstream.enqueue(reply("ok"))
    events = await post_event_stream(
        f"/api/conversations/{conversation.id}/messages/stream/", {"content": "x"}, token=token
    )
    assert events[-1]["type"] == "done" and events[-1]["content"] == "ok"
    assert _sent_messages(llm_upstream) == [("system", "stored prompt"), *HISTORY_THEN_X]


async def test_websocket_send_hands_the_context_it_read_to_the_runner(llm_upstream, user):
    conversation, _ = await sync_to_async(_conversation_with_history)(user)
    llm_upstream.enqueue(reply("ok"))
    communicator = in_process_socket(user, conversation.id)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "send", "content": "x"})
    event = {"type": None}
    while event["type"] != "done":
        event = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert event["content"] == "ok"
    assert _sent_messages(llm_upstream) == [("system", "stored prompt"), *HISTORY_THEN_X]


async def test_per_call_parameters_reach_the_model_through_the_event_stream(llm_upstream, user):
    # The SSE start reads the turn's context with the request and hands it to the runner.
    conversation, token = await sync_to_async(_conversation_with_history)(user)
    llm_upstream.enqueue(reply("ok"))
    events = await post_event_stream(
        "/api/chat/stream/",
        {
            "message": "x",
            "conversation_id": str(conversation.id),
            "temperature": 0.2,
            "system_prompt": "You are terse.",
        },
        token=token,
    )
    assert events[-1]["type"] == "done" and events[-1]["content"] == "ok"
    sent = llm_upstream.chat_requests()[-1].json
    assert sent["temperature"] == 0.2
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("system", "You are terse."),
        *HISTORY_THEN_X,
    ]


def _sent_messages(llm_upstream) -> list[tuple[str, str]]:
    """(role, content) of each message of the last request the model received."""
    return [(m["role"], m["content"]) for m in llm_upstream.chat_requests()[-1].json["messages"]]


def _conversation_with_history(user) -> tuple[Conversation, str]:
    conversation = ConversationFactory(owner=user, system_prompt="stored prompt")
    MessageFactory(conversation=conversation, role="user", content="earlier question")
    MessageFactory(conversation=conversation, role="assistant", content="earlier answer")
    return conversation, api_token_create(user=user, name="sse")[1]


def test_context_is_trimmed_to_the_token_budget_newest_first(
    api_client, llm_upstream, user, settings
):
    conversation = ConversationFactory(owner=user, system_prompt="sys")
    for i in range(30):
        MessageFactory(conversation=conversation, role="user", content=f"old question {i} " * 20)
        MessageFactory(conversation=conversation, role="assistant", content=f"old answer {i} " * 20)
    settings.LLM_CONTEXT_TOKENS = 600
    settings.LLM_SUMMARIZE_HISTORY = False  # the plain cut (summaries: test_history_summary)
    llm_upstream.enqueue(reply("fine"))
    api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "newest"}, format="json"
    )
    assert len(llm_upstream.chat_requests()) == 1
    sent = llm_upstream.chat_requests()[-1].json["messages"]
    assert sent[0]["content"] == "sys" and sent[-1]["content"] == "newest"
    assert 3 < len(sent) < 61  # trimmed, but not to nothing
    assert "old answer 29" in sent[-2]["content"]  # the newest history survived
    assert all("old question 0 " not in m["content"] for m in sent)


def test_rate_limited_twice_then_success_stores_exactly_one_turn(api_client, llm_upstream, user):
    llm_upstream.enqueue(rate_limit_error(), rate_limit_error(), reply("やっと"))
    response = api_client.post("/api/chat/", {"message": "混んでる？"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "やっと"
    assert len(llm_upstream.chat_requests()) == 3  # the SDK's own retries
    assert Message.objects.filter(role="user").count() == 1
    assert Message.objects.filter(role="assistant").count() == 1


ERROR_CASES = [
    # (upstream responses, HTTP status, API.md code)
    ([rate_limit_error()] * 3, 429, "upstream_rate_limited"),
    ([error(500)] * 3, 502, "upstream_error"),
    ([invalid_api_key_error()], 502, "upstream_error"),
    ([azure_content_filter_error()], 422, "content_filtered"),
    ([content_filter_finish("途中まで")], 422, "content_filtered"),
    (
        [error(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})],
        502,
        "upstream_error",
    ),
]


@pytest.mark.parametrize("responses, status, code", ERROR_CASES)
def test_upstream_failures_map_to_api_codes_and_keep_the_users_message(
    api_client, llm_upstream, settings, responses, status, code
):
    llm_upstream.enqueue(*responses)
    response = api_client.post("/api/chat/", {"message": "大事な質問"}, format="json")
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    if code == "upstream_rate_limited":
        assert int(response["Retry-After"]) >= 1
    user_message = Message.objects.get(role="user")
    assert user_message.content == "大事な質問"
    failed = Message.objects.get(role="assistant")
    assert failed.status == "failed" and failed.error_code == code
    assert failed.conversation.active_turn_id is None


def test_retry_after_from_the_provider_is_passed_on(api_client, llm_upstream, settings):
    settings.LLM_BACKEND["OPTIONS"].update(max_retries=0)
    llm_upstream.enqueue(rate_limit_error(retry_after="7", retry_after_ms=None))
    response = api_client.post("/api/chat/", {"message": "まだ？"}, format="json")
    assert response.status_code == 429 and response["Retry-After"] == "7"


def test_timeout_is_504_and_keeps_the_message(api_client, llm_upstream, settings):
    settings.LLM_BACKEND["OPTIONS"].update(timeout=0.5, max_retries=0)
    llm_upstream.enqueue(hang(5))
    response = api_client.post("/api/chat/", {"message": "待ちます"}, format="json")
    assert response.status_code == 504 and response.json()["code"] == "upstream_timeout"
    assert Message.objects.get(role="user").content == "待ちます"


def test_unreachable_provider_is_503(api_client, settings):
    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.openai.OpenAIBackend",
        "OPTIONS": {
            "api_key": "x",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "max_retries": 0,
        },
    }
    response = api_client.post("/api/chat/", {"message": "誰かいますか"}, format="json")
    assert response.status_code == 503 and response.json()["code"] == "upstream_unavailable"
    assert Message.objects.filter(role="user", content="誰かいますか").exists()


def test_broken_stream_keeps_partial_text_as_failed(api_client, llm_upstream, user):
    from tests.fakes.openai_server import broken_stream

    llm_upstream.enqueue(broken_stream("途中まで書い", chunks=["途中", "まで", "書い"]))
    conversation = ConversationFactory(owner=user)
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "長文で"}, format="json"
    )
    assert response.status_code in (502, 503)
    failed = Message.objects.get(role="assistant")
    assert failed.status == "failed" and failed.content == "途中まで書い"
    assert len(llm_upstream.chat_requests()) == 1  # never silently restarted


def test_secrets_never_reach_responses_or_logs(api_client, llm_upstream, caplog):
    body = {
        "error": {
            "message": f"Incorrect API key provided: {TEST_API_KEY}",
            "code": "invalid_api_key",
        }
    }
    llm_upstream.enqueue(error(401, body))
    with caplog.at_level(logging.DEBUG):
        response = api_client.post("/api/chat/", {"message": "鍵は？"}, format="json")
    assert response.status_code == 502
    assert TEST_API_KEY not in response.content.decode()
    assert "key" in response.json()["detail"].lower()  # tells the operator what to check
    assert all(TEST_API_KEY not in record.getMessage() for record in caplog.records)
    assert all(
        TEST_API_KEY not in json.dumps(record.__dict__, default=str) for record in caplog.records
    )
    failed = Message.objects.get(role="assistant")
    assert TEST_API_KEY not in failed.error_text


def test_send_answers_201_with_both_messages(api_client, llm_upstream, user):
    conversation = ConversationFactory(owner=user)
    llm_upstream.enqueue(reply("了解"))
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "よろしく"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user_message"]["content"] == "よろしく"
    assert body["assistant_message"]["content"] == "了解"
    assert body["assistant_message"]["status"] == "complete"
    assert body["assistant_message"]["usage"]["completion_tokens"] > 0


def test_same_client_id_returns_the_earlier_turn_and_calls_no_model(api_client, llm_upstream, user):
    conversation = ConversationFactory(owner=user)
    client_id = str(uuid.uuid4())
    url = f"/api/conversations/{conversation.id}/messages/"
    llm_upstream.enqueue(reply("一度だけ"))
    first = api_client.post(url, {"content": "一回", "client_id": client_id}, format="json")
    again = api_client.post(url, {"content": "一回", "client_id": client_id}, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["assistant_message"]["id"] == first.json()["assistant_message"]["id"]
    assert len(llm_upstream.chat_requests()) == 1
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1


def test_same_client_id_while_the_turn_runs_returns_the_running_turn(
    api_client, llm_upstream, user
):
    conversation = ConversationFactory(owner=user)
    client_id = str(uuid.uuid4())
    url = f"/api/conversations/{conversation.id}/messages/"
    llm_upstream.enqueue(reply("ゆっくり" * 10, chunks=["ゆっくり"] * 10, interval=0.1))
    results = {}

    def first_turn():
        results["first"] = api_client.post(
            url, {"content": "一回", "client_id": client_id}, format="json"
        )

    thread = threading.Thread(target=first_turn)
    thread.start()
    llm_upstream.wait_for_requests(1, kind="chat", timeout=5)
    again = api_client.post(url, {"content": "一回", "client_id": client_id}, format="json")
    thread.join(20)
    assert again.status_code == 200, again.content
    first = results["first"].json()
    assert again.json()["assistant_message"]["id"] == first["assistant_message"]["id"]
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1
    assert len(llm_upstream.chat_requests()) == 1


def test_a_second_turn_while_one_runs_is_409(api_client, llm_upstream, user):
    conversation = ConversationFactory(owner=user)
    url = f"/api/conversations/{conversation.id}/messages/"
    llm_upstream.enqueue(reply("ゆっくり" * 10, chunks=["ゆっくり"] * 10, interval=0.1))
    results = {}

    def first_turn():
        results["first"] = api_client.post(url, {"content": "一つ目"}, format="json")

    thread = threading.Thread(target=first_turn)
    thread.start()
    llm_upstream.wait_for_requests(1, kind="chat", timeout=5)
    second = api_client.post(url, {"content": "二つ目"}, format="json")
    thread.join(20)
    assert second.status_code == 409 and second.json()["code"] == "turn_in_progress"
    assert results["first"].status_code == 201
    assert list(
        Message.objects.filter(conversation=conversation, role="user").values_list(
            "content", flat=True
        )
    ) == ["一つ目"]
    assert len(llm_upstream.chat_requests()) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"message": "   "},
        {"message": "x" * 32_001},
        {"message": "ok", "temperature": 2.1},
        {"message": "ok", "temperature": -1},
        {"message": "ok", "max_tokens": 0},
        {"message": "ok", "max_tokens": 10**6},
        {"message": "ok", "system_prompt": "s" * 9000},
        {"message": 12},
        {},
    ],
)
def test_invalid_input_never_reaches_the_model(api_client, llm_upstream, body):
    response = api_client.post("/api/chat/", body, format="json")
    assert response.status_code == 400
    assert llm_upstream.chat_requests() == []
    assert not Message.objects.exists()


def test_malformed_json_is_400_invalid_and_calls_nothing(api_client, llm_upstream):
    response = api_client.generic("POST", "/api/chat/", "{oops", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert llm_upstream.chat_requests() == []


def test_message_limit_is_configurable(api_client, llm_upstream, settings):
    settings.KAIWA = {**settings.KAIWA, "MAX_MESSAGE_CHARS": 10}
    response = api_client.post("/api/chat/", {"message": "x" * 11}, format="json")
    assert response.status_code == 400 and "message" in response.json()
    assert llm_upstream.chat_requests() == []


def test_another_users_conversation_cannot_be_chatted_into(api_client, llm_upstream, other_user):
    theirs = ConversationFactory(owner=other_user)
    for response in (
        api_client.post(
            "/api/chat/", {"message": "hi", "conversation_id": str(theirs.id)}, format="json"
        ),
        api_client.post(
            f"/api/conversations/{theirs.id}/messages/", {"content": "hi"}, format="json"
        ),
        api_client.post(f"/api/conversations/{theirs.id}/stop/"),
    ):
        assert response.status_code == 404
    assert not Message.objects.exists()
    assert llm_upstream.chat_requests() == []


def test_demo_backend_answers_labelled_without_network(api_client, settings):
    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.demo.DemoBackend",
        "OPTIONS": {"token_delay": 0},
    }
    body = api_client.post("/api/chat/", {"message": "こんにちは"}, format="json").json()
    assert body["model"] == "demo"
    assert "demo" in body["message"].lower() or "デモ" in body["message"]


def test_one_structured_log_line_per_model_call(api_client, llm_upstream, caplog):
    llm_upstream.enqueue(reply("ログの確認" * 100, usage=(5, 9)))
    with caplog.at_level(logging.INFO, logger="kaiwa.llm"):
        api_client.post("/api/chat/", {"message": "質問" * 300}, format="json")
    calls = [r for r in caplog.records if r.name == "kaiwa.llm"]
    assert len(calls) == 1
    record = calls[0]
    assert record.provider == "openai" and record.outcome == "ok"
    assert record.prompt_tokens == 5 and record.completion_tokens == 9
    assert record.retries == 0 and record.latency_ms >= 0
    assert len(record.prompt) <= 201 and len(record.reply) <= 201
