"""Edited and regenerated replies over a real daphne process: WebSocket and SSE carry the
parent, and snapshot, resume, stop and idempotency work as for any reply."""

import uuid

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from tests.assistant.test_streaming import SLOW_TEXT, _csrf, slow_reply
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import session_cookie
from tests.streaming_clients import WS, browser_session, read_sse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@pytest.fixture
def owner(db):
    return UserFactory(username="brancher")


@pytest.fixture
def conversation(owner):
    return ConversationFactory(owner=owner, title="branches", system_prompt="sys")


@pytest.fixture
def exchange(conversation) -> tuple[Message, Message]:
    """A finished first exchange, question and answer."""
    question = MessageFactory(conversation=conversation, role="user", content="Q")
    answer = MessageFactory(conversation=conversation, role="assistant", content="A")
    return question, answer


@pytest.fixture
def owner_cookie(owner) -> str:
    return session_cookie(owner)


async def _stored(message_id) -> Message:
    return await sync_to_async(Message.objects.get)(pk=message_id)


def _sent(upstream) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in upstream.chat_requests()[-1].messages]


async def test_an_edit_reaches_every_tab_with_its_parent(
    live, upstream, conversation, exchange, owner_cookie
):
    question, _ = exchange
    upstream.enqueue(reply("新しい答え"))
    editor = await WS.connect(live, conversation.id, owner_cookie)
    other_tab = await WS.connect(live, conversation.id, owner_cookie)
    try:
        # The socket is open before its connect handler has joined the conversation; an answer
        # to a command comes only after it has, so the other tab follows from here on.
        await other_tab.send({"type": "ready?"})
        await other_tab.until("error")
        await editor.send({"type": "edit", "message_id": str(question.id), "content": "Q 改"})
        user_message = await editor.until("user_message")
        start = await editor.until("start")
        done = await editor.until("done")
        other_start = await other_tab.until("start")
        other_done = await other_tab.until("done")
    finally:
        await editor.close()
        await other_tab.close()
    edited = user_message["message"]
    assert edited["content"] == "Q 改" and edited["parent_id"] is None
    assert user_message["parent_id"] is None
    assert (edited["sibling_index"], edited["sibling_count"]) == (1, 2)
    assert start["parent_id"] == other_start["parent_id"] == edited["id"]
    assert done["content"] == other_done["content"] == "新しい答え"
    assert _sent(upstream) == [("system", "sys"), ("user", "Q 改")]
    stored = await _stored(done["message_id"])
    assert str(stored.parent_id) == edited["id"]


async def test_a_regenerated_reply_is_snapshotted_and_stopped_from_another_tab(
    live, upstream, conversation, exchange, owner_cookie
):
    question, answer = exchange
    upstream.enqueue(slow_reply(interval=0.1))
    first = await WS.connect(live, conversation.id, owner_cookie)
    try:
        await first.send({"type": "regenerate", "message_id": str(answer.id)})
        start = await first.until("start")
        for _ in range(4):
            await first.until("delta")
        second = await WS.connect(live, conversation.id, owner_cookie)
        try:
            snapshot = await second.until("snapshot")
            await second.send({"type": "stop"})
            done = await second.until("done")
        finally:
            await second.close()
        await first.until("done")
    finally:
        await first.close()
    new_reply = start["message_id"]
    assert new_reply != str(answer.id)
    assert start["parent_id"] == snapshot["parent_id"] == str(question.id)
    assert snapshot["message_id"] == done["message_id"] == new_reply
    stored = await _stored(new_reply)
    assert stored.status == "cancelled" and done["status"] == "cancelled"
    assert stored.content and SLOW_TEXT.startswith(stored.content) and stored.content != SLOW_TEXT
    after = [e for e in second.received if e["type"] == "delta"]
    assert all(e["seq"] > snapshot["seq"] for e in after)
    assert snapshot["content"] + second.deltas(new_reply) == stored.content
    # The old version is kept; the stopped one is the active leaf.
    assert (await _stored(answer.id)).content == "A"
    row = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert row.active_leaf_id == stored.pk and row.active_turn_id is None


async def test_a_regenerated_reply_resumes_with_last_event_id(
    live, upstream, conversation, exchange, owner_cookie
):
    question, answer = exchange
    upstream.enqueue(slow_reply())
    async with browser_session(owner_cookie) as http:
        csrf = await _csrf(http, live)
        async with http.post(
            f"{live.url}/api/messages/{answer.id}/regenerate/stream/",
            json={},
            headers={"X-CSRFToken": csrf, "Origin": live.url},
        ) as response:
            assert response.status == 200
            first = await read_sse(response, stop_after=8)  # then the connection drops
        last_id, start = first[-1][0], first[0][1]
        async with http.get(
            f"{live.url}/api/messages/{start['message_id']}/stream/",
            headers={"Last-Event-ID": str(last_id)},
        ) as response:
            rest = await read_sse(response)
    assert start["type"] == "start" and start["parent_id"] == str(question.id)
    assert rest[0][0] == last_id + 1
    text = "".join(d["content"] for _, d in first + rest if d["type"] == "message")
    stored = await _stored(start["message_id"])
    assert text == stored.content == SLOW_TEXT
    assert _sent(upstream) == [("system", "sys"), ("user", "Q")]


async def test_a_repeated_regeneration_is_the_same_turn_and_another_is_refused(
    live, upstream, conversation, exchange, owner_cookie
):
    _, answer = exchange
    upstream.enqueue(slow_reply(interval=0.05))
    client_id = str(uuid.uuid4())
    ws = await WS.connect(live, conversation.id, owner_cookie)
    try:
        command = {"type": "regenerate", "message_id": str(answer.id), "client_id": client_id}
        await ws.send(command)
        start = await ws.until("start")
        await ws.until("delta")
        await ws.send(command)  # a retry: the running reply, no second turn
        await ws.send({"type": "regenerate", "message_id": str(answer.id)})
        error = await ws.until("error")
        done = await ws.until("done")
    finally:
        await ws.close()
    assert error["code"] == "turn_in_progress"
    assert done["message_id"] == start["message_id"]
    assert len(upstream.chat_requests()) == 1
    count = await sync_to_async(Message.objects.filter(conversation=conversation).count)()
    assert count == 3


async def test_another_users_messages_are_not_found_and_the_socket_stays_open(
    live, upstream, conversation, exchange
):
    question, answer = exchange
    intruder = await sync_to_async(UserFactory)(username="branch-intruder")
    own = await sync_to_async(ConversationFactory)(owner=intruder, title="own")
    cookie = await sync_to_async(session_cookie)(intruder)
    upstream.enqueue(reply("自分の返事"))
    ws = await WS.connect(live, own.id, cookie)
    try:
        await ws.send({"type": "edit", "message_id": str(question.id), "content": "乗っ取り"})
        edit_error = await ws.until("error")
        await ws.send({"type": "regenerate", "message_id": str(answer.id)})
        regenerate_error = await ws.until("error")
        await ws.send({"type": "edit", "message_id": "not-a-uuid", "content": "x"})
        malformed = await ws.until("error")
        await ws.send({"type": "send", "content": "まだ使える？"})
        done = await ws.until("done")
    finally:
        await ws.close()
    assert edit_error["code"] == regenerate_error["code"] == "not_found"
    assert malformed["code"] == "invalid"
    assert done["content"] == "自分の返事"
    assert len(upstream.chat_requests()) == 1
    owners = await sync_to_async(list)(
        Message.objects.filter(conversation=conversation).values_list("content", flat=True)
    )
    assert sorted(owners) == ["A", "Q"]
