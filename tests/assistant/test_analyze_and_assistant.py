"""POST /api/analyze/ (forced analyze_text call, schema-checked) and POST /api/assistant/."""

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, SavedNote
from tests.fakes.openai_server import reply, tool_calls

ANALYSIS = {
    "sentiment": "positive",
    "intent": "感謝を伝える",
    "confidence": 0.92,
    "keywords": ["ありがとう", "助かりました"],
}


def analyze(client, text: str = "本当にありがとう、助かりました！"):
    return client.post("/api/analyze/", {"text": text}, format="json")


@pytest.mark.django_db
def test_analyze_forces_the_analyze_text_tool(api_client, llm_upstream):
    llm_upstream.enqueue(tool_calls([("analyze_text", ANALYSIS)]))

    response = analyze(api_client)

    assert response.status_code == 200, response.content
    assert response.json() == ANALYSIS
    sent = llm_upstream.last_chat_request.json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "analyze_text"}}
    assert [t["function"]["name"] for t in sent["tools"]] == ["analyze_text"]
    assert "functions" not in sent and "function_call" not in sent
    assert sent["temperature"] <= 0.3 and not sent.get("stream")
    assert "本当にありがとう" in sent["messages"][-1]["content"]
    assert not Conversation.objects.exists()  # a stateless utility: nothing stored


@pytest.mark.django_db
def test_analyze_keywords_default_to_an_empty_list(api_client, llm_upstream):
    llm_upstream.enqueue(
        tool_calls([("analyze_text", {"sentiment": "neutral", "intent": "質問", "confidence": 0})])
    )
    assert analyze(api_client).json()["keywords"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (tool_calls([("analyze_text", {**ANALYSIS, "sentiment": "ecstatic"})]), "schema"),
        (tool_calls([("analyze_text", {**ANALYSIS, "confidence": 1.5})]), "schema"),
        (tool_calls([("analyze_text", {"sentiment": "positive"})]), "schema"),
        (tool_calls([("analyze_text", {**ANALYSIS, "user_id": 1})]), "schema"),
        (tool_calls([("analyze_text", '{"sentiment": "posi')]), "not valid JSON"),
        (reply("I'd rather chat."), "did not call analyze_text"),
    ],
    ids=["bad-enum", "confidence-range", "missing-fields", "extra-field", "bad-json", "no-call"],
)
def test_an_invalid_analysis_is_a_clear_502(api_client, llm_upstream, answer, detail):
    llm_upstream.enqueue(answer)

    response = analyze(api_client)

    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "upstream_error" and detail in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", "   ", "x" * 32_001])
def test_analyze_validates_the_text_like_a_message(api_client, llm_upstream, text):
    response = analyze(api_client, text)
    assert response.status_code == 400 and "text" in response.json()
    assert llm_upstream.chat_requests() == []


@pytest.mark.django_db
def test_analyze_needs_authentication(llm_upstream):
    assert analyze(APIClient()).status_code == 401


@pytest.mark.django_db
def test_analyze_with_the_demo_backend(api_client):
    body = analyze(api_client, "This is terrible and I am angry").json()
    assert body["sentiment"] == "negative" and 0 <= body["confidence"] <= 1


# -- /api/assistant/ ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_assistant_reports_the_tool_it_used_and_stores_the_exchange(api_client, llm_upstream, user):
    llm_upstream.enqueue(
        tool_calls([("save_note", {"title": "会議", "content": "明日10時"}, "call_n")]),
        reply("メモを保存しました。"),
    )

    response = api_client.post(
        "/api/assistant/", {"message": "明日10時の会議をメモして"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    note = SavedNote.objects.get(owner=user)
    assert body["function_used"] == "save_note"
    assert body["arguments"] == {"title": "会議", "content": "明日10時"}
    assert body["result"] == {"id": note.pk, "title": "会議"}
    assert body["response"] == "メモを保存しました。"
    first = llm_upstream.chat_requests()[0].json
    assert first["tool_choice"] == "auto" and "functions" not in first
    conversation = Conversation.objects.get(pk=body["conversation_id"], owner=user)
    roles = list(conversation.messages.order_by("created_at").values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert str(note.message_id) == body["message_id"]


@pytest.mark.django_db(transaction=True)
def test_assistant_without_a_tool(api_client, llm_upstream, user):
    llm_upstream.enqueue(reply("こんにちは！"))

    body = api_client.post("/api/assistant/", {"message": "やあ"}, format="json").json()

    assert body["function_used"] is None and body["arguments"] is None
    assert body["result"] is None and body["response"] == "こんにちは！"
    reply_row = Message.objects.get(pk=body["message_id"])
    assert reply_row.conversation.owner == user and reply_row.content == "こんにちは！"


@pytest.mark.django_db(transaction=True)
def test_assistant_reports_a_failed_tool_call(api_client, llm_upstream):
    llm_upstream.enqueue(
        tool_calls([("save_note", '{"title": ', "call_bad")]), reply("うまくいきませんでした。")
    )
    body = api_client.post("/api/assistant/", {"message": "メモ"}, format="json").json()
    assert body["function_used"] == "save_note"
    assert body["arguments"] == '{"title": '  # not JSON: returned as the model sent it
    assert "not valid JSON" in body["result"]["error"]


@pytest.mark.django_db(transaction=True)
def test_assistant_upstream_failure_keeps_the_users_message(api_client, llm_upstream, user):
    from tests.fakes.openai_server import error

    llm_upstream.enqueue(error(400))
    response = api_client.post("/api/assistant/", {"message": "やあ"}, format="json")
    assert response.status_code == 502 and response.json()["code"] == "upstream_error"
    assert Message.objects.filter(conversation__owner=user, role="user").count() == 1


@pytest.mark.django_db
def test_assistant_validates_and_needs_authentication(api_client):
    assert api_client.post("/api/assistant/", {"message": ""}, format="json").status_code == 400
    assert APIClient().post("/api/assistant/", {"message": "x"}, format="json").status_code == 401


@pytest.mark.django_db
def test_the_schema_documents_the_tool_endpoints(api_client):
    text = api_client.get("/api/schema/").content.decode()
    for path in ("/api/analyze/", "/api/assistant/", "/api/images/", "/api/images/{id}/file/"):
        assert path in text


# -- limits -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_model_endpoints_are_throttled_per_user(api_client, other_client, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "analyze": "1/min", "images": "1/min"},
    }
    assert analyze(api_client).status_code == 200
    assert analyze(api_client).status_code == 429
    assert analyze(other_client).status_code == 200
    image = {"prompt": "x", "size": "1024x1024"}
    assert api_client.post("/api/images/", image, format="json").status_code == 201
    throttled = api_client.post("/api/images/", image, format="json")
    assert throttled.status_code == 429 and throttled.json()["code"] == "throttled"
    assert api_client.get("/api/images/").status_code == 200  # reading is never limited


@pytest.mark.django_db
def test_used_up_quota_refuses_before_any_model_call(api_client, llm_upstream, user, settings):
    from usage.services import usage_record

    settings.DAILY_TOKEN_QUOTA = 100
    usage_record(user=user, kind="chat", model="gpt-test", prompt_tokens=60, completion_tokens=40)
    assert analyze(api_client).status_code == 429
    image = api_client.post("/api/images/", {"prompt": "x"}, format="json")
    assert image.status_code == 429 and "quota" in image.json()["detail"]
    assistant = api_client.post("/api/assistant/", {"message": "x"}, format="json")
    assert assistant.status_code == 429
    assert llm_upstream.requests == []
