"""Tool fan-out is capped per round and per turn: calls past a cap are not run, each still
gets a result the model can read, and the turn ends with the model's answer."""

import json

import pytest

from conversations.models import Message, SavedNote
from tests.fakes.openai_server import reply, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)


def notes(count: int, start: int = 0) -> list[tuple[str, dict, str]]:
    return [
        ("save_note", {"title": f"メモ{i}", "content": f"内容{i}"}, f"call_{i}")
        for i in range(start, start + count)
    ]


def tool_results(request) -> dict[str, dict]:
    return {
        m["tool_call_id"]: json.loads(m["content"])
        for m in request.json["messages"]
        if m["role"] == "tool"
    }


def test_calls_past_the_round_cap_are_answered_not_run(api_client, llm_upstream, user, settings):
    settings.LLM_MAX_TOOL_CALLS_PER_ROUND = 4
    llm_upstream.enqueue(tool_calls(notes(12)), reply("4件だけ保存しました。"))

    response = api_client.post("/api/chat/", {"message": "12件メモして"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == "4件だけ保存しました。"
    assert SavedNote.objects.filter(owner=user).count() == 4
    results = tool_results(llm_upstream.chat_requests()[1])
    assert set(results) == {f"call_{i}" for i in range(12)}  # a result for every id
    assert all("error" not in results[f"call_{i}"] for i in range(4))
    for i in range(4, 12):
        assert "limit was reached" in results[f"call_{i}"]["error"]
        assert "per round" in results[f"call_{i}"]["error"]
    reply_message = Message.objects.get(pk=response.json()["message_id"])
    assert reply_message.status == "complete"


def test_the_turn_cap_counts_calls_across_rounds(api_client, llm_upstream, user, settings):
    settings.LLM_MAX_TOOL_CALLS_PER_ROUND = 4
    settings.LLM_MAX_TOOL_CALLS_PER_TURN = 6
    llm_upstream.enqueue(
        tool_calls(notes(4)), tool_calls(notes(4, start=4)), reply("6件で打ち止めです。")
    )

    response = api_client.post("/api/chat/", {"message": "たくさんメモして"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == "6件で打ち止めです。"
    assert SavedNote.objects.filter(owner=user).count() == 6
    second_round = tool_results(llm_upstream.chat_requests()[2])
    assert "error" not in second_round["call_4"] and "error" not in second_round["call_5"]
    for call_id in ("call_6", "call_7"):
        assert "per turn" in second_round[call_id]["error"]
