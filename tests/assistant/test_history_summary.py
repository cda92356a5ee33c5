"""A long history: the older part is summarised once, reused, and shown as such."""

import pytest

from assistant.context import to_chat_message
from assistant.history_summary import INSTRUCTIONS, SUMMARY_HEADING
from conversations.models import HistorySummary, Message
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.openai_server import error, reply
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

EXCHANGES = 25


@pytest.fixture
def long_conversation(user, settings):
    settings.LLM_CONTEXT_TOKENS = 3000
    conversation = ConversationFactory(owner=user, system_prompt="sys")
    for i in range(EXCHANGES):
        MessageFactory(conversation=conversation, role="user", content=f"old question {i} " * 16)
        MessageFactory(conversation=conversation, role="assistant", content=f"old answer {i} " * 16)
    return conversation


def send(api_client, conversation, text: str) -> dict:
    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": text}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["assistant_message"]


def shown_from(conversation, start_id, *, before: str) -> list[dict]:
    """The stored path from `start_id` up to (not including) the user message `before`."""
    path = list(Message.objects.filter(conversation=conversation).order_by("created_at", "id"))
    ids = [m.pk for m in path]
    end = next(i for i, m in enumerate(path) if m.content == before)
    return [to_chat_message(m) for m in path[ids.index(start_id) : end]]


def summary_charges(user) -> int:
    return sum(
        UsageRecord.objects.filter(user=user, kind="summary").values_list("calls", flat=True)
    )


def test_the_model_gets_system_prompt_summary_and_newest_exchanges_summary_made_once(
    api_client, llm_upstream, user, long_conversation
):
    llm_upstream.enqueue(reply("ユーザーは古い質問を何度もした。", usage=(900, 20)), reply("one"))

    first = send(api_client, long_conversation, "newest 1")

    summary_call, turn_call = llm_upstream.chat_requests()
    assert summary_call.json.get("stream") is not True
    assert summary_call.messages[0] == {"role": "system", "content": INSTRUCTIONS}
    start = first["context_start_id"]
    assert start is not None and first["context_summarized"] is True
    kept = shown_from(long_conversation, Message.objects.get(pk=start).pk, before="newest 1")
    summary = {"role": "system", "content": SUMMARY_HEADING + "ユーザーは古い質問を何度もした。"}
    assert turn_call.messages == [
        {"role": "system", "content": "sys"},
        summary,
        *kept,
        {"role": "user", "content": "newest 1"},
    ]
    # What was summarised is exactly what the model no longer sees in full.
    transcript = summary_call.messages[1]["content"]
    assert "old question 0 " in transcript
    assert all(m["content"] not in transcript for m in kept)
    assert 2 <= len(kept) < 2 * EXCHANGES - 2
    assert summary_charges(user) == 1

    llm_upstream.enqueue(reply("two"))
    second = send(api_client, long_conversation, "newest 2")

    assert len(llm_upstream.chat_requests()) == 3  # no second summary call
    assert llm_upstream.chat_requests()[2].messages[:2] == [
        {"role": "system", "content": "sys"},
        summary,
    ]
    assert llm_upstream.chat_requests()[2].messages[-1] == {"role": "user", "content": "newest 2"}
    assert second["context_start_id"] == start
    assert HistorySummary.objects.count() == 1
    assert summary_charges(user) == 1


def test_the_summary_is_redone_from_the_last_one_when_more_is_dropped(
    api_client, llm_upstream, user, long_conversation, settings
):
    llm_upstream.enqueue(reply("first summary"), reply("one"))
    first = send(api_client, long_conversation, "newest 1")
    settings.LLM_CONTEXT_TOKENS = 1600  # now more has to go

    llm_upstream.enqueue(reply("second summary"), reply("two"))
    second = send(api_client, long_conversation, "newest 2")

    redo = llm_upstream.chat_requests()[2]
    assert redo.messages[1]["content"].startswith("Earlier summary:\nfirst summary")
    assert "old question 0 " not in redo.messages[1]["content"]  # not from the start again
    assert llm_upstream.chat_requests()[3].messages[1]["content"].endswith("second summary")
    assert second["context_start_id"] != first["context_start_id"]
    assert HistorySummary.objects.count() == 2
    assert summary_charges(user) == 2


def test_a_failed_summary_leaves_the_older_part_out(api_client, llm_upstream, long_conversation):
    llm_upstream.enqueue(*[error(500)] * 3, reply("still answered"))

    answer = send(api_client, long_conversation, "newest")

    assert answer["content"] == "still answered" and answer["status"] == "complete"
    assert answer["context_start_id"] is not None and answer["context_summarized"] is False
    sent = llm_upstream.chat_requests()[-1].messages
    assert sent[0] == {"role": "system", "content": "sys"} and sent[1]["role"] == "user"


def test_without_summaries_the_plain_cut_is_marked_on_the_page(
    api_client, session_client, llm_upstream, long_conversation, settings
):
    settings.LLM_SUMMARIZE_HISTORY = False
    llm_upstream.enqueue(reply("one"))

    answer = send(api_client, long_conversation, "newest")

    assert len(llm_upstream.chat_requests()) == 1
    assert answer["context_summarized"] is False
    page = session_client.get(f"/c/{long_conversation.id}/").content.decode()
    marker = page.index("data-context-marker")
    assert "これより前のメッセージはモデルに送られていません" in page[marker : marker + 200]
    # The marker stands right before the first message the model saw.
    assert page.index(f'data-message-id="{answer["context_start_id"]}"') > marker


def test_a_history_that_fits_makes_no_summary_and_no_marker(
    api_client, session_client, llm_upstream, user
):
    conversation = ConversationFactory(owner=user)
    MessageFactory(conversation=conversation, role="user", content="hi")
    MessageFactory(conversation=conversation, role="assistant", content="hello")

    answer = send(api_client, conversation, "again")

    assert len(llm_upstream.chat_requests()) == 1
    assert answer["context_start_id"] is None and answer["context_summarized"] is False
    assert (
        "data-context-marker" not in session_client.get(f"/c/{conversation.id}/").content.decode()
    )


async def test_a_side_call_stopped_midway_is_charged_its_estimate(llm_upstream):
    import asyncio

    from asgiref.sync import sync_to_async

    from assistant.side_calls import side_completion
    from tests.factories import UserFactory
    from tests.fakes.openai_server import hang
    from usage.models import UsageKind

    owner = await sync_to_async(UserFactory)()
    llm_upstream.enqueue(hang(10))
    call = asyncio.create_task(
        side_completion(
            user=owner,
            kind=UsageKind.SUMMARY,
            messages=[{"role": "user", "content": "summarise " * 40}],
            max_tokens=50,
        )
    )
    await asyncio.to_thread(llm_upstream.wait_for_requests, 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    row = await sync_to_async(UsageRecord.objects.get)(user=owner, kind="summary")
    assert row.calls == 1 and row.prompt_tokens > 0 and row.estimated_tokens == row.prompt_tokens


def test_no_summary_call_past_the_daily_token_quota_the_plain_cut_instead(
    api_client, llm_upstream, user, long_conversation, settings
):
    from usage.services import usage_record

    settings.DAILY_TOKEN_QUOTA = 100_000
    # Room for the turn to start (its reservation), none for a summary call beside it.
    usage_record(
        user=user, kind="chat", model="gpt-test", prompt_tokens=99_000, completion_tokens=0
    )
    llm_upstream.enqueue(reply("still answered"))

    answer = send(api_client, long_conversation, "newest")

    assert len(llm_upstream.chat_requests()) == 1  # the reply only
    assert summary_charges(user) == 0 and not HistorySummary.objects.exists()
    assert answer["content"] == "still answered"
    assert answer["context_start_id"] is not None and answer["context_summarized"] is False
    sent = llm_upstream.chat_requests()[0].messages
    assert sent[0] == {"role": "system", "content": "sys"} and sent[1]["role"] == "user"


def test_a_turn_makes_at_most_summary_max_calls_summary_calls(
    api_client, llm_upstream, user, long_conversation, settings, monkeypatch
):
    from assistant import history_summary

    monkeypatch.setattr(history_summary, "SUMMARY_MAX_CALLS", 1)
    settings.LLM_CONTEXT_TOKENS = 1300  # the older history takes several pieces
    llm_upstream.enqueue(reply("the newest piece summarised"), reply("one"))

    answer = send(api_client, long_conversation, "newest")

    summary_call, turn_call = llm_upstream.chat_requests()
    assert answer["content"] == "one" and answer["context_summarized"] is True
    transcript = summary_call.messages[1]["content"]
    assert "old question 0 " not in transcript  # the oldest pieces were left out
    assert turn_call.messages[1]["content"].endswith("the newest piece summarised")
    assert summary_charges(user) == 1
