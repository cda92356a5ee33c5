"""Edit, regenerate and select over REST: conversations are trees, the model sees the active
path only (checked at the fake upstream), and the rules of a send hold for every branch."""

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts.services import api_token_create
from assistant.reply_lifecycle import finish, recover_stale_replies
from assistant.turns import turn_start
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply, tool_calls
from tests.streaming_clients import post_event_stream

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = "gpt-test=Test,gpt-test-mini=Test mini"
SYSTEM = ("system", "sys")


@pytest.fixture
def upstream(llm_upstream, settings):
    settings.LLM_MODELS = MODELS
    return llm_upstream


@pytest.fixture
def conversation(user):
    return ConversationFactory(owner=user, system_prompt="sys")


def _send(client, conversation, content: str, **extra) -> dict:
    response = client.post(
        f"/api/conversations/{conversation.id}/messages/",
        {"content": content, **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _edit(client, message_id, content: str, *, expect: int = 201, **extra) -> dict:
    response = client.post(
        f"/api/messages/{message_id}/edit/", {"content": content, **extra}, format="json"
    )
    assert response.status_code == expect, response.content
    return response.json()


def _regenerate(client, message_id, *, expect: int = 201, **body) -> dict:
    response = client.post(f"/api/messages/{message_id}/regenerate/", body, format="json")
    assert response.status_code == expect, response.content
    return response.json()


def _select(client, message_id, *, expect: int = 200) -> dict:
    response = client.post(f"/api/messages/{message_id}/select/")
    assert response.status_code == expect, response.content
    return response.json()


def _listed(client, conversation, *, tree: bool = False) -> list[dict]:
    query = "?tree=1" if tree else ""
    response = client.get(f"/api/conversations/{conversation.id}/messages/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _texts(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages]


def _sent(upstream, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of the messages of one request the model received."""
    request = upstream.chat_requests()[index]
    return [(m["role"], m["content"]) for m in request.json["messages"]]


def _two_exchanges(api_client, upstream, conversation) -> tuple[dict, dict]:
    upstream.enqueue(reply("A1"), reply("A2"))
    return _send(api_client, conversation, "Q1"), _send(api_client, conversation, "Q2")


# --- edit -------------------------------------------------------------------------------


def test_edit_makes_a_new_version_and_keeps_the_old_branch(api_client, upstream, conversation):
    first, second = _two_exchanges(api_client, upstream, conversation)
    upstream.enqueue(reply("A2 改"))

    body = _edit(api_client, second["user_message"]["id"], "Q2 改")

    edited, answer = body["user_message"], body["assistant_message"]
    assert (edited["content"], answer["content"]) == ("Q2 改", "A2 改")
    # The new user message is a sibling of the old one: same parent, the second version.
    assert edited["parent_id"] == second["user_message"]["parent_id"]
    assert edited["parent_id"] == first["assistant_message"]["id"]
    assert (edited["sibling_index"], edited["sibling_count"]) == (1, 2)
    assert answer["parent_id"] == edited["id"]
    assert (answer["sibling_index"], answer["sibling_count"]) == (0, 1)
    # The model saw the active path: the first exchange and the new version, not Q2 / A2.
    assert _sent(upstream) == [SYSTEM, ("user", "Q1"), ("assistant", "A1"), ("user", "Q2 改")]
    path = _listed(api_client, conversation)
    assert _texts(path) == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2 改"),
        ("assistant", "A2 改"),
    ]
    assert [(m["sibling_index"], m["sibling_count"]) for m in path] == [
        (0, 1),
        (0, 1),
        (1, 2),
        (0, 1),
    ]
    # The old branch is kept, whole.
    tree = _listed(api_client, conversation, tree=True)
    assert _texts(tree) == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
        ("user", "Q2 改"),
        ("assistant", "A2 改"),
    ]
    old_question = next(m for m in tree if m["content"] == "Q2")
    assert (old_question["sibling_index"], old_question["sibling_count"]) == (0, 2)
    assert Conversation.objects.get(pk=conversation.pk).active_leaf_id == uuid.UUID(answer["id"])


def test_editing_the_first_message_starts_a_second_root(api_client, upstream, conversation):
    first, _ = _two_exchanges(api_client, upstream, conversation)
    upstream.enqueue(reply("最初から"))

    body = _edit(api_client, first["user_message"]["id"], "やり直し")

    assert body["user_message"]["parent_id"] is None
    assert (body["user_message"]["sibling_index"], body["user_message"]["sibling_count"]) == (1, 2)
    assert _sent(upstream) == [SYSTEM, ("user", "やり直し")]
    assert _texts(_listed(api_client, conversation)) == [
        ("user", "やり直し"),
        ("assistant", "最初から"),
    ]


# --- regenerate -------------------------------------------------------------------------


def test_regenerate_makes_a_new_reply_to_the_same_message(api_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    upstream.enqueue(reply("A1 別案"))

    body = _regenerate(
        api_client, first["assistant_message"]["id"], model="gpt-test-mini", temperature=0.2
    )

    regenerated = body["assistant_message"]
    assert set(body) == {"assistant_message"}
    assert regenerated["content"] == "A1 別案"
    assert regenerated["parent_id"] == first["user_message"]["id"]
    assert (regenerated["sibling_index"], regenerated["sibling_count"]) == (1, 2)
    assert regenerated["model"] == "gpt-test-mini"
    request = upstream.chat_requests()[-1].json
    assert (request["model"], request["temperature"]) == ("gpt-test-mini", 0.2)
    # Only the question: the reply being replaced is not history.
    assert _sent(upstream) == [SYSTEM, ("user", "Q1")]
    # The conversation's own settings are untouched, and the old reply is kept.
    assert Conversation.objects.get(pk=conversation.pk).model == ""
    assert Message.objects.filter(pk=first["assistant_message"]["id"], content="A1").exists()

    upstream.enqueue(reply("A2"))
    _send(api_client, conversation, "Q2")
    assert _sent(upstream) == [SYSTEM, ("user", "Q1"), ("assistant", "A1 別案"), ("user", "Q2")]
    assert upstream.chat_requests()[-1].json["model"] == "gpt-test"  # the override was one turn


def test_regenerate_refuses_a_model_not_offered(api_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    before = Message.objects.count()

    body = _regenerate(api_client, first["assistant_message"]["id"], model="gpt-9", expect=400)

    assert "model" in body
    assert Message.objects.count() == before
    assert len(upstream.chat_requests()) == 1


def test_wrong_roles_are_invalid(api_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    question, answer = first["user_message"]["id"], first["assistant_message"]["id"]

    assert _edit(api_client, answer, "x", expect=400)["code"] == "invalid"
    assert _regenerate(api_client, question, expect=400)["code"] == "invalid"
    assert Message.objects.count() == 2
    assert len(upstream.chat_requests()) == 1


# --- select -----------------------------------------------------------------------------


def test_select_switches_the_path_and_the_next_send_continues_from_it(
    api_client, upstream, conversation
):
    first, second = _two_exchanges(api_client, upstream, conversation)
    upstream.enqueue(reply("A1 改"))
    edited = _edit(api_client, first["user_message"]["id"], "Q1 改")
    assert _texts(_listed(api_client, conversation)) == [("user", "Q1 改"), ("assistant", "A1 改")]

    # Selecting the old first message goes down to the newest leaf under it: A2.
    body = _select(api_client, first["user_message"]["id"])

    assert body["conversation_id"] == str(conversation.id)
    assert body["active_leaf_id"] == second["assistant_message"]["id"]
    assert _texts(body["messages"]) == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
    ]
    assert (body["messages"][0]["sibling_index"], body["messages"][0]["sibling_count"]) == (0, 2)
    assert _texts(_listed(api_client, conversation)) == _texts(body["messages"])
    detail = api_client.get(f"/api/conversations/{conversation.id}/").json()
    assert detail["active_leaf_id"] == second["assistant_message"]["id"]

    upstream.enqueue(reply("A3"))
    third = _send(api_client, conversation, "Q3")
    assert third["user_message"]["parent_id"] == second["assistant_message"]["id"]
    assert _sent(upstream) == [
        SYSTEM,
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
        ("user", "Q3"),
    ]

    # And back to the edited version: a leaf selects itself.
    back = _select(api_client, edited["assistant_message"]["id"])
    assert _texts(back["messages"]) == [("user", "Q1 改"), ("assistant", "A1 改")]


def test_select_goes_down_the_newest_child_at_each_step(api_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    question = first["user_message"]["id"]
    upstream.enqueue(reply("二番目"), reply("三番目"))
    _regenerate(api_client, first["assistant_message"]["id"])
    newest = _regenerate(api_client, first["assistant_message"]["id"])["assistant_message"]
    _select(api_client, first["assistant_message"]["id"])

    body = _select(api_client, question)

    assert body["active_leaf_id"] == newest["id"]
    assert (newest["sibling_index"], newest["sibling_count"]) == (2, 3)


# --- the rules of a send ----------------------------------------------------------------


def test_a_running_turn_refuses_edit_regenerate_and_select_with_409(
    api_client, upstream, conversation, user
):
    first = _send_one(api_client, upstream, conversation)
    question, answer = first["user_message"]["id"], first["assistant_message"]["id"]
    turn_start(user=user, content="走っている", conversation=conversation)  # a live turn
    before = Message.objects.count()

    refusals = [
        api_client.post(f"/api/messages/{question}/edit/", {"content": "x"}, format="json"),
        api_client.post(f"/api/messages/{question}/edit/stream/", {"content": "x"}, format="json"),
        api_client.post(f"/api/messages/{answer}/regenerate/", {}, format="json"),
        api_client.post(f"/api/messages/{answer}/regenerate/stream/", {}, format="json"),
        api_client.post(f"/api/messages/{answer}/select/"),
    ]

    assert [(r.status_code, r.json()["code"]) for r in refusals] == [(409, "turn_in_progress")] * 5
    assert Message.objects.count() == before
    assert len(upstream.chat_requests()) == 1


def test_a_dead_turn_does_not_block_a_regeneration(api_client, upstream, conversation, user):
    first = _send_one(api_client, upstream, conversation)
    stuck = turn_start(user=user, content="死んだ", conversation=conversation).reply
    old = timezone.now() - timedelta(minutes=5)
    Message.objects.filter(pk=stuck.pk).update(created_at=old)
    upstream.enqueue(reply("復活"))

    body = _regenerate(api_client, stuck.pk)

    assert Message.objects.get(pk=stuck.pk).status == "interrupted"
    assert body["assistant_message"]["content"] == "復活"
    assert body["assistant_message"]["parent_id"] == str(stuck.parent_id)
    assert _sent(upstream) == [SYSTEM, ("user", "Q1"), ("assistant", "A1"), ("user", "死んだ")]
    assert first["assistant_message"]["content"] == "A1"


def test_a_regenerated_reply_whose_process_died_is_recovered(upstream, conversation, user):
    question = Message.objects.create(conversation=conversation, role="user", content="Q")
    earlier = Message.objects.create(
        conversation=conversation, role="assistant", content="A", parent=question
    )
    regenerated = turn_start(user=user, regenerate_of=earlier).reply
    Message.objects.filter(pk=regenerated.pk).update(
        status="streaming",
        content="途中",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )

    assert recover_stale_replies(conversation_id=conversation.pk) == 1

    stored = Message.objects.get(pk=regenerated.pk)
    assert (stored.status, stored.content, stored.parent_id) == ("interrupted", "途中", question.pk)
    conversation.refresh_from_db()
    assert conversation.active_turn_id is None and conversation.active_leaf_id == stored.pk


def test_client_id_makes_edit_and_regenerate_idempotent(api_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    edit_id, regenerate_id = str(uuid.uuid4()), str(uuid.uuid4())
    upstream.enqueue(reply("編集後"), reply("再生成"))

    edited = _edit(api_client, first["user_message"]["id"], "Q1 改", client_id=edit_id)
    again = _edit(api_client, first["user_message"]["id"], "Q1 改", client_id=edit_id, expect=200)
    assert again["user_message"]["id"] == edited["user_message"]["id"]
    assert again["assistant_message"]["id"] == edited["assistant_message"]["id"]

    answer = edited["assistant_message"]["id"]
    regenerated = _regenerate(api_client, answer, client_id=regenerate_id)
    repeated = _regenerate(api_client, answer, client_id=regenerate_id, expect=200)
    assert repeated["assistant_message"]["id"] == regenerated["assistant_message"]["id"]
    assert repeated["assistant_message"]["content"] == "再生成"

    assert len(upstream.chat_requests()) == 3  # the first send, one edit, one regeneration
    assert Message.objects.filter(conversation=conversation).count() == 5


async def test_a_repeated_client_id_on_a_stream_replays_the_earlier_turn(upstream, user):
    conversation, token = await sync_to_async(_conversation_and_token)(user)
    first = await sync_to_async(_send_via_service)(user, conversation, upstream)
    client_id = str(uuid.uuid4())
    upstream.enqueue(reply("一度だけ"))
    path = f"/api/messages/{first.reply.pk}/regenerate/stream/"

    events = await post_event_stream(path, {"client_id": client_id}, token=token)
    again = await post_event_stream(path, {"client_id": client_id}, token=token)

    assert events[0]["type"] == "start" and events[-1]["content"] == "一度だけ"
    assert again[0]["message_id"] == events[0]["message_id"]
    assert again[-1]["type"] == "done" and again[-1]["content"] == "一度だけ"
    assert len(upstream.chat_requests()) == 1  # the first exchange was stored, not generated


async def test_edit_and_regenerate_streams_carry_the_parent(upstream, user):
    conversation, token = await sync_to_async(_conversation_and_token)(user)
    first = await sync_to_async(_send_via_service)(user, conversation, upstream)
    upstream.enqueue(reply("編集の返事"), reply("再生成の返事"))

    edited = await post_event_stream(
        f"/api/messages/{first.user_message.pk}/edit/stream/", {"content": "Q 改"}, token=token
    )
    start, done = edited[0], edited[-1]
    new_question = await sync_to_async(Message.objects.get)(content="Q 改")
    assert start["type"] == "start" and start["parent_id"] == str(new_question.pk)
    assert start["user_message_id"] == str(new_question.pk)
    assert new_question.parent_id is None  # a sibling of the first message
    assert done["type"] == "done" and done["content"] == "編集の返事"
    assert _sent(upstream) == [SYSTEM, ("user", "Q 改")]

    regenerated = await post_event_stream(
        f"/api/messages/{done['message_id']}/regenerate/stream/", {}, token=token
    )
    assert regenerated[0]["parent_id"] == str(new_question.pk)
    assert regenerated[0]["message_id"] != done["message_id"]
    assert regenerated[-1]["content"] == "再生成の返事"
    assert _sent(upstream) == [SYSTEM, ("user", "Q 改")]


def test_another_users_message_is_404_everywhere(api_client, other_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    question, answer = first["user_message"]["id"], first["assistant_message"]["id"]
    before = list(Message.objects.values_list("id", "content").order_by("id"))

    responses = [
        other_client.post(f"/api/messages/{question}/edit/", {"content": "x"}, format="json"),
        other_client.post(
            f"/api/messages/{question}/edit/stream/", {"content": "x"}, format="json"
        ),
        other_client.post(f"/api/messages/{answer}/regenerate/", {}, format="json"),
        other_client.post(f"/api/messages/{answer}/regenerate/stream/", {}, format="json"),
        other_client.post(f"/api/messages/{answer}/select/"),
        other_client.post(f"/api/messages/{question}/select/"),
    ]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(404, "not_found")] * 6
    assert list(Message.objects.values_list("id", "content").order_by("id")) == before
    assert len(upstream.chat_requests()) == 1


# --- tool calls -------------------------------------------------------------------------


def test_tool_calls_stay_with_the_reply_that_made_them(api_client, upstream, conversation):
    upstream.enqueue(
        tool_calls([("save_note", {"title": "買い物", "content": "牛乳"})]), reply("保存しました")
    )
    first = _send(api_client, conversation, "メモして")
    answer = Message.objects.get(pk=first["assistant_message"]["id"])
    tools = list(Message.objects.filter(turn_reply=answer).order_by("created_at", "id"))
    assert [m.role for m in tools] == ["assistant", "tool"]
    assert all(m.parent_id is None for m in tools)
    assert (
        first["assistant_message"]["sibling_index"],
        first["assistant_message"]["sibling_count"],
    ) == (0, 1)
    listed = _listed(api_client, conversation)
    assert [m["role"] for m in listed] == ["user", "assistant", "tool", "assistant"]
    assert listed[1]["turn_reply_id"] == listed[2]["turn_reply_id"] == str(answer.pk)

    # A new version of the reply does not inherit the old version's tool calls.
    upstream.enqueue(reply("別の返事"))
    regenerated = _regenerate(api_client, answer.pk)["assistant_message"]
    assert _sent(upstream) == [SYSTEM, ("user", "メモして")]

    # Back on the old version, the next turn sees its tool calls and results before it.
    _select(api_client, answer.pk)
    upstream.enqueue(reply("次の返事"))
    _send(api_client, conversation, "次")
    sent = upstream.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[2]["tool_calls"][0]["function"]["name"] == "save_note"
    assert sent[4]["content"] == "保存しました"
    assert regenerated["id"] not in {m["id"] for m in _listed(api_client, conversation)}


# --- exports and clear ------------------------------------------------------------------


def test_exports_give_the_active_path_and_the_tree_on_request(api_client, upstream, conversation):
    first, second = _two_exchanges(api_client, upstream, conversation)
    upstream.enqueue(reply("A2 改"))
    _edit(api_client, second["user_message"]["id"], "Q2 改")
    base = f"/api/conversations/{conversation.id}/export/"

    path = api_client.get(base, {"format": "json"}).json()
    tree = api_client.get(base, {"format": "json", "tree": "1"}).json()
    markdown = api_client.get(base, {"format": "md"}).content.decode()

    assert [m["content"] for m in path["messages"]] == ["Q1", "A1", "Q2 改", "A2 改"]
    assert path["tree"] is False and path["active_leaf_id"] == path["messages"][-1]["id"]
    assert [m["content"] for m in tree["messages"]] == ["Q1", "A1", "Q2", "A2", "Q2 改", "A2 改"]
    by_content = {m["content"]: m for m in tree["messages"]}
    assert (
        by_content["Q2"]["parent_id"] == by_content["Q2 改"]["parent_id"] == by_content["A1"]["id"]
    )
    assert by_content["A2"]["parent_id"] == by_content["Q2"]["id"]
    assert (by_content["Q2 改"]["sibling_index"], by_content["Q2 改"]["sibling_count"]) == (1, 2)
    assert "Q2 改" in markdown and "A2 改" in markdown and "\nQ2\n" not in markdown
    refused = api_client.get(base, {"format": "md", "tree": "1"})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")


def test_clear_deletes_every_version_and_resets_the_leaf(api_client, upstream, conversation):
    first = _send_one(api_client, upstream, conversation)
    upstream.enqueue(reply("別案"), reply("新しい始まり"))
    _regenerate(api_client, first["assistant_message"]["id"])

    response = api_client.post(f"/api/conversations/{conversation.id}/clear/")

    assert response.json() == {"deleted": 3}
    assert Conversation.objects.get(pk=conversation.pk).active_leaf_id is None
    fresh = _send(api_client, conversation, "もう一度")
    assert fresh["user_message"]["parent_id"] is None
    assert _sent(upstream) == [SYSTEM, ("user", "もう一度")]


# --- helpers ----------------------------------------------------------------------------


def _send_one(api_client, upstream, conversation) -> dict:
    upstream.enqueue(reply("A1"))
    return _send(api_client, conversation, "Q1")


def _conversation_and_token(user):
    conversation = ConversationFactory(owner=user, system_prompt="sys")
    return conversation, api_token_create(user=user, name="branches")[1]


def _send_via_service(user, conversation, upstream):
    """A finished first exchange Q → A, stored as a send stores it."""
    turn = turn_start(user=user, content="Q", conversation=conversation)
    finish(
        reply_id=turn.reply.pk,
        conversation_id=conversation.pk,
        status="complete",
        stored_fields={"content": "A"},
        settle=lambda: None,
    )
    return turn
