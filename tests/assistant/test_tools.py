"""Tools inside a turn, through the real SDK against the loopback fake: parallel calls, the
round limit, bad calls answered as tool errors, ownership, and the demo backend's triggers."""

import json

import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from assistant.backends.demo import DemoBackend
from assistant.models import GeneratedImage
from conversations.models import Conversation, Message, SavedNote
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply, tool_calls
from tests.streaming_clients import post_event_stream

pytestmark = pytest.mark.django_db(transaction=True)


def chat(client, message: str) -> dict:
    response = client.post("/api/chat/", {"message": message}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def stored(conversation_id) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("created_at"))


def tool_results(request) -> dict[str, dict]:
    """tool_call_id -> parsed result, from the tool messages a chat request carried."""
    return {
        m["tool_call_id"]: json.loads(m["content"])
        for m in request.json["messages"]
        if m["role"] == "tool"
    }


def test_tools_are_offered_with_the_modern_parameters(api_client, llm_upstream):
    llm_upstream.enqueue(reply("ok"))
    chat(api_client, "こんにちは")
    sent = llm_upstream.chat_requests()[0].json
    assert "functions" not in sent and "function_call" not in sent
    assert sent["tool_choice"] == "auto"
    names = {tool["function"]["name"] for tool in sent["tools"]}
    assert names == {"analyze_text", "save_note", "generate_image"}  # no search configured
    for tool in sent["tools"]:
        assert tool["type"] == "function"
        assert tool["function"]["parameters"]["additionalProperties"] is False


def test_parallel_tool_calls_in_one_round(api_client, llm_upstream, user):
    llm_upstream.enqueue(
        tool_calls(
            [
                ("save_note", {"title": "牛乳", "content": "牛乳を買う"}, "call_milk"),
                ("save_note", {"title": "卵", "content": "卵を買う"}, "call_eggs"),
            ]
        ),
        reply("二つのメモを保存しました。"),
    )

    body = chat(api_client, "買い物リストをメモして")

    assert body["message"] == "二つのメモを保存しました。"
    notes = SavedNote.objects.filter(owner=user).order_by("id")
    assert [(n.title, n.content) for n in notes] == [("牛乳", "牛乳を買う"), ("卵", "卵を買う")]
    assert {str(n.conversation_id) for n in notes} == {body["conversation_id"]}
    assert {str(n.message_id) for n in notes} == {body["message_id"]}

    messages = stored(body["conversation_id"])
    assert [m.role for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
    calls_message = messages[1]
    assert [c["id"] for c in calls_message.tool_calls] == ["call_milk", "call_eggs"]
    assert [m.tool_call_id for m in messages[2:4]] == ["call_milk", "call_eggs"]
    assert str(messages[-1].pk) == body["message_id"]

    first, second = llm_upstream.chat_requests()
    results = tool_results(second)
    assert set(results) == {"call_milk", "call_eggs"}
    assert results["call_milk"] == {"id": notes[0].pk, "title": "牛乳"}
    assert results["call_eggs"] == {"id": notes[1].pk, "title": "卵"}
    assistant_turn = [m for m in second.json["messages"] if m.get("tool_calls")]
    assert [c["id"] for c in assistant_turn[0]["tool_calls"]] == ["call_milk", "call_eggs"]
    # The notes are the user's, through the notes API.
    listed = api_client.get("/api/notes/").json()["results"]
    assert {n["title"] for n in listed} == {"牛乳", "卵"}


def test_round_limit(api_client, llm_upstream, user, settings):
    settings.LLM_MAX_TOOL_ROUNDS = 3
    counter = iter(range(100))

    def always_a_tool_call(request):
        n = next(counter)
        return tool_calls([("save_note", {"title": f"n{n}", "content": "c"}, f"call_{n}")])

    llm_upstream.enqueue(*[always_a_tool_call] * 10)

    body = chat(api_client, "loop forever")

    requests = llm_upstream.chat_requests()
    assert len(requests) == 4  # three rounds with tools, then one that must answer
    assert [r.json["tool_choice"] for r in requests] == ["auto", "auto", "auto", "none"]
    assert SavedNote.objects.filter(owner=user).count() == 3
    messages = stored(body["conversation_id"])
    assert sum(m.role == "tool" for m in messages) == 3
    reply_row = Message.objects.get(pk=body["message_id"])
    assert reply_row.status == Message.Status.COMPLETE
    assert Conversation.objects.get(pk=body["conversation_id"]).active_turn_id is None


def test_malformed_arguments_and_unknown_tool_go_back_to_the_model(api_client, llm_upstream, user):
    llm_upstream.enqueue(
        tool_calls(
            [
                ("save_note", '{"title": "broken', "call_json"),
                ("launch_rockets", {"target": "moon"}, "call_unknown"),
                ("save_note", {"title": 42}, "call_schema"),
                ("analyze_text", {"sentiment": "ecstatic", "intent": "x", "confidence": 2}, "c4"),
            ]
        ),
        reply("失敗したツールがありました。"),
    )

    body = chat(api_client, "try tools")

    assert body["message"] == "失敗したツールがありました。"
    results = tool_results(llm_upstream.chat_requests()[1])
    assert "not valid JSON" in results["call_json"]["error"]
    assert results["call_unknown"] == {"error": "Unknown tool: launch_rockets"}
    assert "Invalid arguments" in results["call_schema"]["error"]
    assert "Invalid arguments" in results["c4"]["error"]
    assert not SavedNote.objects.exists()
    tool_rows = [m for m in stored(body["conversation_id"]) if m.role == "tool"]
    assert [m.status for m in tool_rows] == [Message.Status.FAILED] * 4
    assert Message.objects.get(pk=body["message_id"]).status == Message.Status.COMPLETE


def test_a_tool_acts_only_for_the_caller(api_client, llm_upstream, user, other_user):
    theirs = ConversationFactory(owner=other_user, title="theirs")
    llm_upstream.enqueue(
        tool_calls(
            [
                (
                    "save_note",
                    {
                        "title": "盗む",
                        "content": "x",
                        "owner_id": other_user.pk,
                        "conversation_id": str(theirs.pk),
                    },
                    "call_ids",
                ),
                ("save_note", {"title": "mine", "content": "c"}, "call_plain"),
            ]
        ),
        reply("done"),
    )

    body = chat(api_client, "save it for mallory")

    results = tool_results(llm_upstream.chat_requests()[1])
    assert "Additional properties are not allowed" in results["call_ids"]["error"]
    assert not SavedNote.objects.filter(owner=other_user).exists()
    assert not SavedNote.objects.filter(conversation=theirs).exists()
    note = SavedNote.objects.get()
    assert note.owner == user and str(note.conversation_id) == body["conversation_id"]
    assert theirs.messages.count() == 0


async def test_tool_call_events_reach_the_stream(llm_upstream, user):
    _, token = await sync_to_async(api_token_create)(user=user, name="sse")
    llm_upstream.enqueue(
        tool_calls([("save_note", {"title": "t", "content": "c"}, "call_1")]), reply("ok")
    )

    events = await post_event_stream("/api/chat/stream/", {"message": "note"}, token=token)
    tool_events = [e for e in events if e["type"] == "tool_call"]
    assert len(tool_events) == 1
    assert tool_events[0]["name"] == "save_note"
    assert tool_events[0]["arguments"] == {"title": "t", "content": "c"}
    assert tool_events[0]["result"]["title"] == "t"
    assert events[-1]["type"] == "done"


# -- the demo backend: every tool without a key -------------------------------------------


def test_demo_trigger_phrases_cover_every_tool():
    assert set(DemoBackend.DEMO_TOOL_TRIGGERS.values()) == {
        "save_note",
        "analyze_text",
        "generate_image",
        "search_web",
    }


def test_demo_saves_a_note(api_client, user):
    body = chat(api_client, "メモして 牛乳を二本買う")
    note = SavedNote.objects.get(owner=user)
    assert "牛乳を二本買う" in note.content
    assert str(note.message_id) == body["message_id"]
    assert "save_note" in body["message"] and body["model"] == "demo"


def test_demo_analyzes_text(api_client):
    body = chat(api_client, "analyze: I love this wonderful product")
    tool_row = next(m for m in stored(body["conversation_id"]) if m.role == "tool")
    result = json.loads(tool_row.content)
    assert result["sentiment"] == "positive" and 0 <= result["confidence"] <= 1


def test_demo_generates_and_embeds_an_image(api_client, user):
    body = chat(api_client, "画像を描いて: 富士山と桜")
    image = GeneratedImage.objects.get(owner=user)
    assert str(image.source_message_id) == body["message_id"]
    assert image.content_type == "image/png" and image.model == "demo"
    url = f"/api/images/{image.pk}/file/"
    assert f"]({url})" in body["message"]  # the reply embeds our own URL
    response = api_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    # Never base64 in a message: the stored tool result is small.
    assert all(len(m.content) < 1000 for m in stored(body["conversation_id"]))


def test_demo_does_not_search_without_a_provider(api_client):
    body = chat(api_client, "search for Django 6.1 release notes")
    assert [m.role for m in stored(body["conversation_id"])] == ["user", "assistant"]
