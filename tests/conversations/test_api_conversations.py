"""The CRUD API of API.md section 3, over real HTTP semantics (DRF's test client)."""

import json

import pytest

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_create_uses_default_system_prompt_and_lists_newest_first(api_client, settings):
    first = api_client.post("/api/conversations/", {"title": "一つ目"}, format="json")
    second = api_client.post(
        "/api/conversations/", {"title": "二つ目", "temperature": 0.2}, format="json"
    )
    assert first.status_code == 201, first.content
    assert first.json()["system_prompt"] == settings.LLM_SYSTEM_PROMPT
    assert second.json()["temperature"] == 0.2

    listing = api_client.get("/api/conversations/").json()
    assert set(listing) == {"next", "previous", "results"}
    assert [c["title"] for c in listing["results"]] == ["二つ目", "一つ目"]


def test_cursor_pagination_walks_every_conversation_once(api_client, user):
    for i in range(7):
        ConversationFactory(owner=user, title=f"c{i}")
    seen = []
    url = "/api/conversations/?page_size=3"
    while url:
        page = api_client.get(url).json()
        seen += [c["title"] for c in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(f"c{i}" for i in range(7))
    assert len(seen) == 7


def test_search_matches_titles_and_message_text(api_client, user, other_user):
    by_title = ConversationFactory(owner=user, title="旅行の計画")
    by_message = ConversationFactory(owner=user, title="misc")
    MessageFactory(conversation=by_message, content="京都への旅行について")
    ConversationFactory(owner=user, title="unrelated")
    theirs = ConversationFactory(owner=other_user, title="旅行 secret")

    results = api_client.get("/api/conversations/", {"search": "旅行"}).json()["results"]
    ids = {c["id"] for c in results}
    assert ids == {str(by_title.id), str(by_message.id)}
    assert str(theirs.id) not in ids


def test_retrieve_patch_delete(api_client, user):
    conversation = ConversationFactory(owner=user)
    url = f"/api/conversations/{conversation.id}/"
    assert api_client.get(url).json()["id"] == str(conversation.id)

    patched = api_client.patch(url, {"title": "新しい題名", "max_tokens": 500}, format="json")
    assert patched.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.title, conversation.max_tokens) == ("新しい題名", 500)

    assert api_client.delete(url).status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 10**7}, "max_tokens"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_out_of_range_parameters_are_field_errors(api_client, body, field):
    response = api_client.post("/api/conversations/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_messages_list_oldest_first_with_api_fields(api_client, user):
    conversation = ConversationFactory(owner=user)
    first = MessageFactory(conversation=conversation, content="first")
    MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="second",
        prompt_tokens=3,
        completion_tokens=5,
        finish_reason="stop",
        model="gpt-test",
    )
    body = api_client.get(f"/api/conversations/{conversation.id}/messages/").json()
    assert [m["content"] for m in body["results"]] == ["first", "second"]
    assert body["results"][0]["id"] == str(first.id)
    reply = body["results"][1]
    assert reply["usage"] == {"prompt_tokens": 3, "completion_tokens": 5}
    assert reply["model"] == "gpt-test" and reply["finish_reason"] == "stop"
    assert {"tool_calls", "tool_call_id", "status", "error", "created_at"} <= set(reply)


def test_clear_deletes_messages_and_keeps_conversation(api_client, user):
    conversation = ConversationFactory(owner=user)
    MessageFactory.create_batch(3, conversation=conversation)
    response = api_client.post(f"/api/conversations/{conversation.id}/clear/")
    assert response.status_code == 200 and response.json() == {"deleted": 3}
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation=conversation).exists()


def test_clear_and_delete_refused_while_a_turn_runs(api_client, user):
    conversation = ConversationFactory(owner=user)
    reply = MessageFactory(conversation=conversation, role="assistant", status="streaming")
    Conversation.objects.filter(pk=conversation.pk).update(active_turn=reply)
    for response in (
        api_client.post(f"/api/conversations/{conversation.id}/clear/"),
        api_client.delete(f"/api/conversations/{conversation.id}/"),
    ):
        assert response.status_code == 409
        assert response.json()["code"] == "turn_in_progress"
    assert Message.objects.filter(pk=reply.pk).exists()


def test_export_markdown_and_json(api_client, user):
    conversation = ConversationFactory(owner=user, title="輸出")
    MessageFactory(conversation=conversation, content="質問です")
    MessageFactory(conversation=conversation, role="assistant", content="**答え**です")

    md = api_client.get(f"/api/conversations/{conversation.id}/export/", {"format": "md"})
    assert md.status_code == 200
    assert md["Content-Type"].startswith("text/markdown")
    assert "attachment" in md["Content-Disposition"]
    text = md.content.decode()
    assert text.startswith("# 輸出")
    assert text.index("質問です") < text.index("**答え**です")

    js = api_client.get(f"/api/conversations/{conversation.id}/export/", {"format": "json"})
    data = json.loads(js.content)
    assert data["title"] == "輸出"
    assert [m["content"] for m in data["messages"]] == ["質問です", "**答え**です"]

    bad = api_client.get(f"/api/conversations/{conversation.id}/export/", {"format": "pdf"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_another_users_conversation_is_404_everywhere(api_client, other_user):
    theirs = ConversationFactory(owner=other_user, title="private")
    MessageFactory(conversation=theirs)
    base = f"/api/conversations/{theirs.id}/"
    attempts = [
        api_client.get(base),
        api_client.patch(base, {"title": "pwned"}, format="json"),
        api_client.delete(base),
        api_client.get(base + "messages/"),
        api_client.post(base + "clear/"),
        api_client.get(base + "export/", {"format": "json"}),
    ]
    for response in attempts:
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": response.json()["detail"], "code": "not_found"}
    theirs.refresh_from_db()
    assert theirs.title == "private" and theirs.messages.count() == 1


def test_anonymous_gets_json_401(client, user):
    conversation = ConversationFactory(owner=user)
    for url in ("/api/conversations/", f"/api/conversations/{conversation.id}/", "/api/notes/"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_malformed_json_is_a_json_400(api_client):
    response = api_client.generic(
        "POST", "/api/conversations/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_oversized_body_is_a_json_error_not_html(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"title": "x", "system_prompt": "y" * 5000})
    response = api_client.generic(
        "POST", "/api/conversations/", body, content_type="application/json"
    )
    assert response.status_code in (400, 413)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "invalid"


def test_unknown_api_path_and_non_uuid_id_are_json_404(api_client):
    for url in ("/api/nope/", "/api/conversations/not-a-uuid/"):
        response = api_client.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
