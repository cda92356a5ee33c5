"""Streaming turns over a real daphne process: WebSocket and SSE, resumable, stoppable."""

import asyncio
import json
import uuid

import aiohttp
import pytest
from django.core.serializers.json import DjangoJSONEncoder
from yarl import URL

from conversations.api.serializers import MessageOutputSerializer
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import session_cookie
from tests.streaming_clients import WS, browser_session, read_sse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

SLOW_TEXT = "".join(f"語{i:02d} " for i in range(40))  # 40 chunks


def slow_reply(text: str = SLOW_TEXT, interval: float = 0.05):
    return reply(text, chunks=[text[i : i + 4] for i in range(0, len(text), 4)], interval=interval)


@pytest.fixture
def owner(db):
    return UserFactory(username="streamer")


@pytest.fixture
def conversation(owner):
    return ConversationFactory(owner=owner, title="stream")


@pytest.fixture
def owner_cookie(owner) -> str:
    return session_cookie(owner)


@pytest.fixture
def intruder_cookie(db) -> str:
    return session_cookie(UserFactory(username="intruder"))


async def _stored(message_id) -> Message:
    from asgiref.sync import sync_to_async

    return await sync_to_async(Message.objects.get)(pk=message_id)


async def _as_rest_json(message_id) -> dict:
    from asgiref.sync import sync_to_async

    def serialized() -> dict:  # a message's versions are read from the database
        data = MessageOutputSerializer(Message.objects.get(pk=message_id)).data
        return json.loads(json.dumps(data, cls=DjangoJSONEncoder))

    return await sync_to_async(serialized)()


async def test_ws_deltas_concatenate_to_the_stored_reply(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(
        reply("こんにちは、世界。**太字**です。", chunks=list("こんにちは、世界。**太字**です。"))
    )
    ws = await WS.connect(live, conversation.id, owner_cookie)
    try:
        await ws.send({"type": "send", "content": "やあ", "client_id": str(uuid.uuid4())})
        user_message = await ws.until("user_message")
        assert user_message["message"]["content"] == "やあ"
        start = await ws.until("start")
        done = await ws.until("done")
    finally:
        await ws.close()
    stored = await _stored(done["message_id"])
    assert start["message_id"] == done["message_id"]
    assert ws.deltas(done["message_id"]) == stored.content == "こんにちは、世界。**太字**です。"
    assert stored.status == "complete"
    assert "<strong>太字</strong>" in done["html"]
    seqs = [e["seq"] for e in ws.received if e["type"] == "delta"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # The model saw the user's message.
    assert upstream.chat_requests()[-1].messages[-1]["content"] == "やあ"
    # The user_message event carries the message as the REST API shows it.
    assert user_message["message"] == await _as_rest_json(user_message["message"]["id"])


async def test_sse_deltas_concatenate_and_ids_increase(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(reply("SSE の返事です。", chunks=["SSE ", "の", "返事", "です。"]))
    async with browser_session(owner_cookie) as http:
        csrf = await _csrf(http, live)
        async with http.post(
            f"{live.url}/api/conversations/{conversation.id}/messages/stream/",
            json={"content": "質問"},
            headers={"X-CSRFToken": csrf, "Origin": live.url},
        ) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert response.headers["X-Accel-Buffering"] == "no"
            events = await read_sse(response)
    kinds = [data["type"] for _, data in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    ids = [event_id for event_id, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    text = "".join(d["content"] for _, d in events if d["type"] == "message")
    stored = await _stored(events[-1][1]["message_id"])
    assert text == stored.content == "SSE の返事です。"


async def test_socket_closed_mid_reply_new_socket_gets_snapshot_and_rest(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(slow_reply())
    first = await WS.connect(live, conversation.id, owner_cookie)
    await first.send({"type": "send", "content": "長い返事をください"})
    for _ in range(6):
        await first.until("delta")
    await first.close()  # the tab is closed mid-reply

    second = await WS.connect(live, conversation.id, owner_cookie)
    try:
        snapshot = await second.until("snapshot")
        assert snapshot["content"]  # some text had already arrived
        done = await second.until("done")
    finally:
        await second.close()
    after = [e for e in second.received if e["type"] == "delta"]
    assert all(e["seq"] > snapshot["seq"] for e in after)
    stored = await _stored(done["message_id"])
    assert snapshot["content"] + second.deltas() == stored.content == SLOW_TEXT


async def test_last_event_id_resumes_without_gap_or_duplicate(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(slow_reply())
    async with browser_session(owner_cookie) as http:
        csrf = await _csrf(http, live)
        async with http.post(
            f"{live.url}/api/conversations/{conversation.id}/messages/stream/",
            json={"content": "続けて"},
            headers={"X-CSRFToken": csrf, "Origin": live.url},
        ) as response:
            first = await read_sse(response, stop_after=8)  # then the connection drops
        last_id, message_id = first[-1][0], first[0][1]["message_id"]
        async with http.get(
            f"{live.url}/api/messages/{message_id}/stream/", headers={"Last-Event-ID": str(last_id)}
        ) as response:
            rest = await read_sse(response)
    assert rest[0][0] == last_id + 1
    text = "".join(d["content"] for _, d in first + rest if d["type"] == "message")
    stored = await _stored(message_id)
    assert text == stored.content == SLOW_TEXT


async def test_client_disconnect_does_not_stop_the_turn(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(slow_reply(interval=0.02))
    async with browser_session(owner_cookie) as http:
        csrf = await _csrf(http, live)
        async with http.post(
            f"{live.url}/api/conversations/{conversation.id}/messages/stream/",
            json={"content": "切断します"},
            headers={"X-CSRFToken": csrf, "Origin": live.url},
        ) as response:
            events = await read_sse(response, stop_after=3)
    message_id = events[0][1]["message_id"]
    for _ in range(100):
        stored = await _stored(message_id)
        if stored.status == "complete":
            break
        await asyncio.sleep(0.1)
    assert stored.status == "complete" and stored.content == SLOW_TEXT


async def test_replay_of_a_finished_reply(live, upstream, owner, conversation, owner_cookie):
    upstream.enqueue(reply("終わった返事"))
    ws = await WS.connect(live, conversation.id, owner_cookie)
    await ws.send({"type": "send", "content": "hi"})
    done = await ws.until("done")
    await ws.close()
    async with browser_session(owner_cookie) as http:
        async with http.get(f"{live.url}/api/messages/{done['message_id']}/stream/") as response:
            events = await read_sse(response)
    assert "".join(d["content"] for _, d in events if d["type"] == "message") == "終わった返事"
    assert events[-1][1]["type"] == "done"


async def test_stop_keeps_the_partial_text(live, upstream, owner, conversation, owner_cookie):
    upstream.enqueue(slow_reply(interval=0.1))
    ws = await WS.connect(live, conversation.id, owner_cookie)
    try:
        await ws.send({"type": "send", "content": "止めてみる"})
        for _ in range(4):
            await ws.until("delta")
        await ws.send({"type": "stop"})
        done = await ws.until("done")
    finally:
        await ws.close()
    stored = await _stored(done["message_id"])
    assert stored.status == "cancelled"
    assert stored.content and SLOW_TEXT.startswith(stored.content) and stored.content != SLOW_TEXT
    assert ws.deltas(done["message_id"]) == stored.content
    conversation_row = await _conversation(conversation.id)
    assert conversation_row.active_turn_id is None


async def test_stop_over_rest(live, upstream, owner, conversation, owner_cookie):
    from asgiref.sync import sync_to_async

    from accounts.services import api_token_create

    _, token = await sync_to_async(api_token_create)(user=owner)
    upstream.enqueue(slow_reply(interval=0.1))
    ws = await WS.connect(live, conversation.id, owner_cookie)
    try:
        await ws.send({"type": "send", "content": "REST で止める"})
        await ws.until("delta")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.post(f"{live.url}/api/conversations/{conversation.id}/stop/") as r:
                body = await r.json()
        assert r.status == 200 and body["stopped"] is True
        assert body["message"]["status"] == "cancelled"
        await ws.until("done")
    finally:
        await ws.close()


async def test_second_send_while_running_is_turn_in_progress(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(slow_reply(interval=0.05))
    ws = await WS.connect(live, conversation.id, owner_cookie)
    try:
        await ws.send({"type": "send", "content": "一つ目"})
        await ws.until("delta")
        await ws.send({"type": "send", "content": "二つ目"})
        error = await ws.until("error")
        assert error["code"] == "turn_in_progress"
        await ws.until("done")
    finally:
        await ws.close()
    assert await _count_user_messages(conversation.id) == 1


async def test_anonymous_socket_is_closed_4401(live, conversation):
    ws = await WS.connect(live, conversation.id, None)
    assert await ws.close_code() == 4401
    await ws.session.close()


async def test_another_users_socket_is_closed_4404(live, conversation, intruder_cookie):
    ws = await WS.connect(live, conversation.id, intruder_cookie)
    assert await ws.close_code() == 4404
    await ws.session.close()


async def test_cross_site_origin_is_refused(live, owner, conversation, owner_cookie):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await WS.connect(live, conversation.id, owner_cookie, origin="https://evil.example")
    assert refused.value.status == 403


async def test_malformed_unknown_and_oversized_frames(
    live, upstream, owner, conversation, owner_cookie
):
    ws = await WS.connect(live, conversation.id, owner_cookie)
    await ws.send("{not json")
    assert (await ws.until("error"))["code"] == "invalid"
    await ws.send({"type": "dance"})
    assert (await ws.until("error"))["code"] == "invalid"
    await ws.send({"type": "send", "content": ""})
    assert (await ws.until("error"))["code"] == "invalid"
    await ws.send({"type": "send", "content": "x" * (70 * 1024)})
    assert (await ws.until("error"))["code"] == "invalid"
    assert await ws.close_code() == 4413
    await ws.session.close()
    # The server is still up and the conversation unharmed.
    upstream.enqueue(reply("まだ元気"))
    again = await WS.connect(live, conversation.id, owner_cookie)
    await again.send({"type": "send", "content": "大丈夫？"})
    done = await again.until("done")
    await again.close()
    assert done["content"] == "まだ元気"
    assert await _count_user_messages(conversation.id) == 1


async def _csrf(http: aiohttp.ClientSession, live) -> str:
    async with http.get(f"{live.url}/") as response:
        assert response.status == 200
    return http.cookie_jar.filter_cookies(URL(live.url))["csrftoken"].value


async def _conversation(pk) -> Conversation:
    from asgiref.sync import sync_to_async

    return await sync_to_async(Conversation.objects.get)(pk=pk)


async def _count_user_messages(pk) -> int:
    from asgiref.sync import sync_to_async

    return await sync_to_async(Message.objects.filter(conversation_id=pk, role="user").count)()


async def test_eventsource_accept_header_is_served(
    live, upstream, owner, conversation, owner_cookie
):
    upstream.enqueue(reply("EventSource でも"))
    ws = await WS.connect(live, conversation.id, owner_cookie)
    await ws.send({"type": "send", "content": "hi"})
    done = await ws.until("done")
    await ws.close()
    async with browser_session(owner_cookie) as http:
        async with http.get(
            f"{live.url}/api/messages/{done['message_id']}/stream/",
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status == 200
            events = await read_sse(response)
        async with http.get(
            f"{live.url}/api/messages/{uuid.uuid4()}/stream/",
            headers={"Accept": "text/event-stream"},
        ) as missing:
            assert missing.status == 404
            assert '"code": "not_found"' in await missing.text()
    assert "".join(d["content"] for _, d in events if d["type"] == "message") == "EventSource でも"
