"""Sessions that end, end everywhere: log-out, a password change, deactivation and a revoked
API token end the affected open WebSockets (close 4401) and event streams (`error` event
not_authenticated), over real HTTP and WebSocket against live daphne processes. The turn a
closed socket was watching still finishes and is stored."""

import asyncio
import json
from datetime import timedelta
from html.parser import HTMLParser

import aiohttp
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from yarl import URL

from accounts.services import api_token_create
from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import redis_available, session_cookie
from tests.streaming_clients import WS, read_sse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

SLOW_TEXT = "".join(f"語{i:02d} " for i in range(40))
NEW_PASSWORD = "a-Different-passphrase-7"  # noqa: S105  # nosec B105
SHARED_REDIS = "redis://127.0.0.1:6379/5"


def slow_reply(interval: float = 0.05):
    chunks = [SLOW_TEXT[i : i + 4] for i in range(0, len(SLOW_TEXT), 4)]
    return reply(SLOW_TEXT, chunks=chunks, interval=interval)


class Browser:
    """One browser: its own session (cookie jar), as a person logged in there holds it."""

    def __init__(self, server, cookie: str) -> None:
        self.server = server
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        name, value = cookie.split("=", 1)
        self.http.cookie_jar.update_cookies({name: value}, URL(server.url))

    @property
    def cookie(self) -> str:
        cookies = self.http.cookie_jar.filter_cookies(URL(self.server.url))
        return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())

    async def csrf(self) -> str:
        async with self.http.get(f"{self.server.url}/accounts/login/") as response:
            assert response.status in (200, 302)
        jar = self.http.cookie_jar.filter_cookies(URL(self.server.url))
        if "csrftoken" not in jar:
            async with self.http.get(f"{self.server.url}/") as response:
                assert response.status == 200
            jar = self.http.cookie_jar.filter_cookies(URL(self.server.url))
        return jar["csrftoken"].value

    async def post_form(self, path: str, data: dict | list) -> int:
        csrf = await self.csrf()
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        async with self.http.post(
            f"{self.server.url}{path}",
            data=[*fields, ("csrfmiddlewaretoken", csrf)],
            allow_redirects=False,
        ) as response:
            await response.read()
            return response.status

    async def socket(self, conversation_id) -> WS:
        return await WS.connect(self.server, conversation_id, self.cookie)

    async def close(self) -> None:
        await self.http.close()


class _FormFields(HTMLParser):
    """The values a browser would submit from the page's form with id `form_id`."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or "disabled" in a:
            if tag == "option" and self._select and "selected" in a and self.inside:
                self.fields.append((self._select, a.get("value", "")))
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            default = "on" if kind in ("checkbox", "radio") else ""
            self.fields.append((a["name"], a.get("value", default)))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.fields.append((self._textarea, ""))

    def handle_data(self, data):
        if self._textarea and self.fields and self.fields[-1][0] == self._textarea:
            self.fields[-1] = (self._textarea, self.fields[-1][1] + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


async def _admin_deactivate(admin: Browser, user_pk) -> int:
    """Untick "Active" on the user's admin page and save, as staff would."""
    path = f"/admin/auth/user/{user_pk}/change/"
    async with admin.http.get(f"{admin.server.url}{path}") as response:
        assert response.status == 200
        page = await response.text()
    form = _FormFields("user_form")
    form.feed(page)
    assert ("is_active", "on") in form.fields
    fields = [(k, v) for k, v in form.fields if k not in ("is_active", "csrfmiddlewaretoken")]
    return await admin.post_form(path, [*fields, ("_save", "Save")])


async def _stored_reply(message_id, *, timeout: float = 20) -> Message:
    """The reply once its turn has ended (the turn runs on after its socket closed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await sync_to_async(Message.objects.get)(pk=message_id)
        if message.status in Message.FINISHED or loop.time() > deadline:
            return message
        await asyncio.sleep(0.1)


async def _closed_with(ws: WS, timeout: float = 10) -> int | None:
    """The socket's close code, once it is closed (events still on their way are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        msg = await ws.ws.receive(timeout=max(0.1, deadline - loop.time()))
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.ws.close_code
        if msg.type == aiohttp.WSMsgType.TEXT:
            ws.received.append(json.loads(msg.data))


async def _still_serves(ws: WS) -> dict:
    """The socket is open and works: a turn sent on it runs to `done`."""
    await ws.send({"type": "send", "content": "まだ使える？"})
    return await ws.until("done")


@pytest.fixture
def person(db):
    return UserFactory(username="person")


@pytest.fixture
def conversation(person):
    return ConversationFactory(owner=person, title="sessions")


@pytest.fixture
async def browsers(live, person):
    """Two browsers, each with its own logged-in session of `person`."""
    opened = [Browser(live, await sync_to_async(session_cookie)(person)) for _ in range(2)]
    yield opened
    for browser in opened:
        await browser.close()


async def test_logout_closes_that_browsers_socket_and_not_another_sessions(
    live, upstream, browsers, conversation
):
    first, second = browsers
    ws_first = await first.socket(conversation.id)
    ws_second = await second.socket(conversation.id)
    try:
        assert await first.post_form("/accounts/logout/", {}) == 302
        assert await _closed_with(ws_first) == 4401
        upstream.enqueue(reply("はい、使えます。"))
        done = await _still_serves(ws_second)
        assert done["content"] == "はい、使えます。"
    finally:
        await ws_first.close()
        await ws_second.close()


async def test_the_turn_of_a_socket_closed_by_logout_finishes_and_is_stored(
    live, upstream, browsers, conversation
):
    first, _ = browsers
    upstream.enqueue(slow_reply())
    ws = await first.socket(conversation.id)
    try:
        await ws.send({"type": "send", "content": "長い返事をください"})
        start = await ws.until("start")
        await ws.until("delta")
        assert await first.post_form("/accounts/logout/", {}) == 302
        assert await _closed_with(ws) == 4401
    finally:
        await ws.close()
    assert not any(e["type"] == "done" for e in ws.received)  # closed mid-reply
    stored = await _stored_reply(start["message_id"])
    assert stored.status == Message.Status.COMPLETE
    assert stored.content == SLOW_TEXT


async def test_logout_ends_that_browsers_event_stream(live, upstream, browsers, conversation):
    first, _ = browsers
    upstream.enqueue(slow_reply())
    async with first.http.post(
        f"{live.url}/api/conversations/{conversation.id}/messages/stream/",
        json={"content": "ブラウザーから"},
        headers={"X-CSRFToken": await first.csrf(), "Origin": live.url},
    ) as stream:
        assert stream.status == 200
        started = await read_sse(stream, stop_after=2)
        assert await first.post_form("/accounts/logout/", {}) == 302
        rest = await read_sse(stream)
    ended = rest[-1][1]
    assert ended["type"] == "error" and ended["code"] == "not_authenticated"
    stored = await _stored_reply(started[0][1]["message_id"])
    assert stored.status == Message.Status.COMPLETE and stored.content == SLOW_TEXT


async def test_password_change_closes_the_other_sessions_sockets_not_the_changing_ones(
    live, upstream, person, browsers, conversation
):
    await sync_to_async(type(person).objects.filter(pk=person.pk).update)(is_staff=True)
    changing, other = browsers
    ws_changing = await changing.socket(conversation.id)
    ws_other = await other.socket(conversation.id)
    try:
        status = await changing.post_form(
            "/admin/password_change/",
            {
                "old_password": "pw-for-tests-123",
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )
        assert status == 302
        assert await _closed_with(ws_other) == 4401
        upstream.enqueue(reply("変更後も続きます。"))
        assert (await _still_serves(ws_changing))["content"] == "変更後も続きます。"
        # Django moved the changing session to a new key; its socket followed it there, so
        # logging out of that session (with the new cookie) still ends the socket.
        assert await changing.post_form("/accounts/logout/", {}) == 302
        assert await _closed_with(ws_changing) == 4401
    finally:
        await ws_changing.close()
        await ws_other.close()


async def test_deactivation_in_the_admin_closes_every_socket_and_token_stream(
    spawn_kaiwa, upstream, person, conversation
):
    # A process of its own: the admin's log entry names a content type, and a process that
    # outlives the test database's flushes would hold a stale id for it.
    server = spawn_kaiwa("admin")
    staff = await sync_to_async(UserFactory)(username="staff", is_staff=True, is_superuser=True)
    admin = Browser(server, await sync_to_async(session_cookie)(staff))
    browsers = [Browser(server, await sync_to_async(session_cookie)(person)) for _ in range(2)]
    _, token = await sync_to_async(api_token_create)(user=person)
    sockets = [await browser.socket(conversation.id) for browser in browsers]
    upstream.enqueue(slow_reply())
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:
            async with api.post(
                f"{server.url}/api/chat/stream/", json={"message": "長くお願いします"}
            ) as stream:
                assert stream.status == 200
                first = await read_sse(stream, stop_after=2)
                assert await _admin_deactivate(admin, person.pk) == 302
                for ws in sockets:
                    assert await _closed_with(ws) == 4401
                rest = await read_sse(stream)
    finally:
        for ws in sockets:
            await ws.close()
        for browser in (admin, *browsers):
            await browser.close()
    ended = rest[-1][1]
    assert ended["type"] == "error" and ended["code"] == "not_authenticated" and ended["error"]
    assert not (await sync_to_async(type(person).objects.get)(pk=person.pk)).is_active
    stored = await _stored_reply(first[0][1]["message_id"])
    assert stored.content == SLOW_TEXT


async def test_revoking_a_token_ends_its_streams_and_not_another_tokens(
    live, upstream, person, browsers
):
    revoked, revoked_plain = await sync_to_async(api_token_create)(user=person, name="revoked")
    _, kept_plain = await sync_to_async(api_token_create)(user=person, name="kept")
    upstream.enqueue(slow_reply(), slow_reply())
    browser = browsers[0]

    async def stream(token: str):
        http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        response = await http.post(f"{live.url}/api/chat/stream/", json={"message": "どうぞ"})
        assert response.status == 200
        return http, response

    http_revoked, revoked_stream = await stream(revoked_plain)
    http_kept, kept_stream = await stream(kept_plain)
    try:
        first_revoked = await read_sse(revoked_stream, stop_after=2)
        first_kept = await read_sse(kept_stream, stop_after=2)
        async with browser.http.delete(
            f"{live.url}/api/tokens/{revoked.public_id}/",
            headers={"X-CSRFToken": await browser.csrf()},
        ) as response:
            assert response.status == 204
        rest_revoked = await read_sse(revoked_stream)
        rest_kept = await read_sse(kept_stream)
    finally:
        for http, response in ((http_revoked, revoked_stream), (http_kept, kept_stream)):
            response.close()
            await http.close()
    ended = rest_revoked[-1][1]
    assert ended["type"] == "error" and ended["code"] == "not_authenticated" and ended["error"]
    assert rest_kept[-1][1]["type"] == "done"
    kept_text = "".join(
        d.get("content", "") for _, d in first_kept + rest_kept if d["type"] == "message"
    )
    assert kept_text == SLOW_TEXT
    # The revoked stream's turn is not lost either.
    stored = await _stored_reply(first_revoked[0][1]["message_id"])
    assert stored.status == Message.Status.COMPLETE and stored.content == SLOW_TEXT


async def test_a_stream_rechecks_its_token_at_each_keep_alive(live, upstream, person):
    """A change that sends no message (a QuerySet update) still ends an idle stream: the
    live servers send a keep-alive after one quiet second."""
    from accounts.models import ApiToken

    token, plaintext = await sync_to_async(api_token_create)(user=person)
    upstream.enqueue(reply("前半と後半", chunks=["前半", "と", "後半"], interval=4))
    expire = ApiToken.objects.filter(pk=token.pk).update
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {plaintext}"}) as api:
        async with api.post(f"{live.url}/api/chat/stream/", json={"message": "ゆっくり"}) as r:
            assert r.status == 200
            first = await read_sse(r, stop_after=2)
            assert await sync_to_async(expire)(expiry=timezone.now() - timedelta(seconds=1))
            rest = await read_sse(r)
    assert [d["type"] for _, d in first] == ["start", "message"]
    assert rest[-1][1]["code"] == "not_authenticated"
    assert not any(d["type"] == "message" for _, d in rest)  # ended before the next chunk


@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
async def test_logout_through_one_process_closes_the_socket_on_another(
    spawn_kaiwa, upstream, person, conversation
):
    a = spawn_kaiwa("a", REDIS_URL=SHARED_REDIS)
    b = spawn_kaiwa("b", REDIS_URL=SHARED_REDIS)
    cookie = await sync_to_async(session_cookie)(person)
    on_a, on_b = Browser(a, cookie), Browser(b, cookie)
    other = Browser(b, await sync_to_async(session_cookie)(person))
    ws = await on_b.socket(conversation.id)
    ws_other = await other.socket(conversation.id)
    try:
        assert await on_a.post_form("/accounts/logout/", {}) == 302
        assert await _closed_with(ws) == 4401
        upstream.enqueue(reply("別のセッションは続きます。"))
        assert (await _still_serves(ws_other))["content"] == "別のセッションは続きます。"
    finally:
        await ws.close()
        await ws_other.close()
        for browser in (on_a, on_b, other):
            await browser.close()


# --- in process: which changes tell the user's group ---------------------------------------


class _Listener:
    """One channel of the test process's layer, read without ever cancelling a receive
    (channels-redis drops a channel whose receive was cancelled)."""

    def __init__(self, layer, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.receiving: asyncio.Task | None = None

    async def next(self, timeout: float = 1.0) -> dict | None:
        if self.receiving is None:
            self.receiving = asyncio.ensure_future(self.layer.receive(self.channel))
        done, _ = await asyncio.wait({self.receiving}, timeout=timeout)
        if not done:
            return None
        received, self.receiving = self.receiving, None
        return received.result()

    def close(self) -> None:
        if self.receiving is not None:
            self.receiving.cancel()


async def test_only_changes_to_credentials_tell_the_users_group(person):
    from channels.layers import get_channel_layer
    from django.contrib.auth.models import update_last_login

    from accounts.revocation import MESSAGE_TYPE, user_group

    layer = get_channel_layer()
    listener = _Listener(layer, await layer.new_channel())
    await layer.group_add(user_group(person.pk), listener.channel)

    def new_password():
        person.set_password(NEW_PASSWORD)
        person.save()

    try:
        await sync_to_async(update_last_login)(None, person)  # every log-in saves last_login
        assert await listener.next(timeout=0.3) is None

        await sync_to_async(new_password)()
        assert await listener.next() == {"type": MESSAGE_TYPE}

        token, _ = await sync_to_async(api_token_create)(user=person)
        assert await listener.next(timeout=0.3) is None  # a new token changes nothing
        await sync_to_async(token.delete)()
        assert await listener.next() == {"type": MESSAGE_TYPE}
    finally:
        listener.close()


async def test_a_moved_sessions_new_key_is_readable_only_with_the_old_one():
    from accounts.revocation import Credentials, _seal, _session_id

    old, new = "a" * 32, "b" * 32
    sealed = _seal(new, old)
    assert new not in sealed and old not in _session_id(old)
    moved = Credentials(user_id=1, session_key=old)
    other = Credentials(user_id=1, session_key="c" * 32)
    message = {"type": "auth.changed", "renamed": {"from": _session_id(old), "to": sealed}}
    for credentials in (moved, other):
        assert not await credentials.still_valid(message)  # no such sessions are stored
    assert moved.session_key == new
    assert other.session_key == "c" * 32
