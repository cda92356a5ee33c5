"""Several daphne processes: a turn started on one is watched and stopped through another;
a process that dies mid-turn leaves `interrupted`, never `streaming`."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import redis_available, session_cookie
from tests.streaming_clients import WS, browser_session, read_sse

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.multiprocess,
    pytest.mark.timeout(120),
]

TEXT = "".join(f"片{i:02d} " for i in range(60))
# A Redis database of its own, so other tests' cache flushes never touch it.
SHARED_REDIS = "redis://127.0.0.1:6379/5"


def slow(interval=0.08):
    return reply(TEXT, chunks=[TEXT[i : i + 4] for i in range(0, len(TEXT), 4)], interval=interval)


@pytest.fixture
def owner(db):
    return UserFactory(username="multi")


@pytest.fixture
def conversation(owner):
    return ConversationFactory(owner=owner)


@pytest.fixture
def cookie(owner):
    return session_cookie(owner)


async def _reply(message_id) -> Message:
    return await sync_to_async(Message.objects.get)(pk=message_id)


@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
async def test_turn_on_one_process_is_resumed_and_stopped_through_another(
    spawn_kaiwa, upstream, conversation, cookie
):
    a = spawn_kaiwa("a", REDIS_URL=SHARED_REDIS)
    b = spawn_kaiwa("b", REDIS_URL=SHARED_REDIS)
    upstream.enqueue(slow())

    on_a = await WS.connect(a, conversation.id, cookie)
    await on_a.send({"type": "send", "content": "A で始める"})
    start = await on_a.until("start")
    for _ in range(5):
        await on_a.until("delta")

    on_b = await WS.connect(b, conversation.id, cookie)
    snapshot = await on_b.until("snapshot")
    assert snapshot["message_id"] == start["message_id"]
    assert snapshot["content"] and TEXT.startswith(snapshot["content"])
    for _ in range(3):
        delta = await on_b.until("delta")
        assert delta["seq"] > snapshot["seq"]
    await on_b.send({"type": "stop"})  # stop through B; the runner lives in A
    done_b = await on_b.until("done")
    done_a = await on_a.until("done")
    await on_a.close()
    await on_b.close()

    stored = await _reply(start["message_id"])
    assert stored.status == "cancelled" and done_a["status"] == done_b["status"] == "cancelled"
    assert stored.content and stored.content != TEXT and TEXT.startswith(stored.content)
    # B saw exactly the stored text: the snapshot plus the deltas after it.
    assert snapshot["content"] + on_b.deltas() == stored.content
    assert on_a.deltas() == stored.content


@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
async def test_sse_resume_through_another_process(spawn_kaiwa, upstream, conversation, cookie):
    a = spawn_kaiwa("a", REDIS_URL=SHARED_REDIS)
    b = spawn_kaiwa("b", REDIS_URL=SHARED_REDIS)
    upstream.enqueue(slow(interval=0.03))
    async with browser_session(cookie) as http:
        async with http.get(f"{a.url}/") as r:
            assert r.status == 200
        csrf = next(c.value for c in http.cookie_jar if c.key == "csrftoken")
        async with http.post(
            f"{a.url}/api/conversations/{conversation.id}/messages/stream/",
            json={"content": "SSE"},
            headers={"X-CSRFToken": csrf, "Origin": a.url},
        ) as response:
            first = await read_sse(response, stop_after=6)
        message_id = first[0][1]["message_id"]
        async with http.get(
            f"{b.url}/api/messages/{message_id}/stream/",
            headers={"Last-Event-ID": str(first[-1][0])},
        ) as response:
            rest = await read_sse(response)
    text = "".join(d["content"] for _, d in first + rest if d["type"] == "message")
    assert text == (await _reply(message_id)).content == TEXT


async def test_a_killed_process_leaves_interrupted_not_streaming(
    spawn_kaiwa, live, upstream, conversation, cookie, settings
):
    doomed = spawn_kaiwa("doomed", STREAM_PERSIST_INTERVAL_SECONDS="0.3")
    upstream.enqueue(slow(interval=0.1))
    ws = await WS.connect(doomed, conversation.id, cookie)
    await ws.send({"type": "send", "content": "途中で落ちる"})
    start = await ws.until("start")
    for _ in range(8):
        await ws.until("delta")
    await asyncio.sleep(0.5)  # let a partial write land
    doomed.kill()
    await ws.session.close()

    stuck = await _reply(start["message_id"])
    assert stuck.status == "streaming" and stuck.content  # what a dead process leaves behind

    # A reader on a live process finds the heartbeat stale (3 s in the test servers).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async with browser_session(cookie) as http:
            async with http.get(
                f"{live.url}/api/conversations/{conversation.id}/messages/"
            ) as response:
                body = await response.json()
        reply_row = next(m for m in body["results"] if m["id"] == start["message_id"])
        if reply_row["status"] != "streaming":
            break
        await asyncio.sleep(0.5)
    assert reply_row["status"] == "interrupted"
    assert reply_row["content"] == stuck.content and TEXT.startswith(reply_row["content"])
    assert reply_row["error"]["code"] == "interrupted"

    # The conversation is usable again.
    upstream.enqueue(reply("復旧しました"))
    again = await WS.connect(live, conversation.id, cookie)
    await again.send({"type": "send", "content": "もう一度"})
    done = await again.until("done")
    await again.close()
    assert done["content"] == "復旧しました"


async def test_startup_marks_replies_of_dead_processes_interrupted(
    spawn_kaiwa, upstream, conversation, cookie
):
    doomed = spawn_kaiwa("doomed", STREAM_PERSIST_INTERVAL_SECONDS="0.3")
    upstream.enqueue(slow(interval=0.1))
    ws = await WS.connect(doomed, conversation.id, cookie)
    await ws.send({"type": "send", "content": "落ちて再起動"})
    start = await ws.until("start")
    for _ in range(5):
        await ws.until("delta")
    await asyncio.sleep(0.5)
    doomed.kill()
    await ws.session.close()
    await asyncio.sleep(3.5)  # older than STREAM_STALE_AFTER_SECONDS

    spawn_kaiwa("restarted")  # start-up recovery runs before it serves
    recovered = await _reply(start["message_id"])
    assert recovered.status == "interrupted" and recovered.content
