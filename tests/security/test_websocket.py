"""The WebSockets refuse strangers: 4401 anonymous, 4404 another user's conversation."""

import uuid

import aiohttp
import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory
from tests.live_server import session_cookie
from tests.streaming_clients import WS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def conversation(db):
    return ConversationFactory(owner=UserFactory(username="ws-owner"), title="OWNER-PRIVATE")


async def _refused_with(ws: WS) -> tuple[int | None, list]:
    """The close code, and every frame received before it (there must be none with data)."""
    frames = []
    while True:
        msg = await ws.ws.receive(timeout=10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.ws.close_code, frames
        frames.append(msg.data)


async def test_anonymous_socket_is_closed_with_4401(live, conversation):
    ws = await WS.connect(live, conversation.id, cookie=None)
    try:
        code, frames = await _refused_with(ws)
    finally:
        await ws.close()
    assert code == 4401 and frames == []


async def test_anonymous_events_socket_is_closed_with_4401(live):
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"{live.ws_url}/ws/events/", headers={"Origin": live.url})
        code, frames = await _refused_with(WS(session, ws))
    finally:
        await session.close()
    assert code == 4401 and frames == []


async def test_a_token_in_the_socket_url_grants_nothing(live, conversation):
    from accounts.services import api_token_create

    _, token = await sync_to_async(api_token_create)(user=conversation.owner, name="ws")
    session = aiohttp.ClientSession()
    try:
        for query in (f"token={token}", f"access_token={token}"):
            ws = await session.ws_connect(
                f"{live.ws_url}/ws/conversations/{conversation.id}/?{query}",
                headers={"Origin": live.url, "Authorization": f"Bearer {token}"},
            )
            code, frames = await _refused_with(WS(session, ws))
            await ws.close()
            assert code == 4401 and frames == []
    finally:
        await session.close()


async def test_another_users_socket_is_closed_with_4404_and_cannot_send(live, conversation):
    cookie = await sync_to_async(session_cookie)(
        await sync_to_async(UserFactory)(username="ws-intruder")
    )
    ws = await WS.connect(live, conversation.id, cookie)
    try:
        # Whatever the intruder manages to send before the close must not become a turn.
        try:
            await ws.send({"type": "send", "content": "乗っ取り", "client_id": str(uuid.uuid4())})
        except ConnectionError:
            pass
        code, frames = await _refused_with(ws)
    finally:
        await ws.close()
    assert code == 4404
    assert all("OWNER-PRIVATE" not in str(frame) for frame in frames)
    count = await sync_to_async(Message.objects.filter(conversation=conversation).count)()
    assert count == 0


async def test_a_foreign_origin_is_refused_even_with_the_owners_session(live, conversation):
    cookie = await sync_to_async(session_cookie)(conversation.owner)
    headers = {"Origin": "https://evil.example", "Cookie": cookie}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                f"{live.ws_url}/ws/conversations/{conversation.id}/", headers=headers
            )
    assert refused.value.status == 403
