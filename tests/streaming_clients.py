"""Small real clients for the streaming tests: WebSocket and SSE over aiohttp (live server),
and in process (Channels' communicator, Django's AsyncClient)."""

import asyncio
import json
from typing import Any

import aiohttp


class WS:
    """A conversation WebSocket as a browser tab would hold it."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def connect(
        cls, server, conversation_id, cookie: str | None, *, origin: str | None = None
    ):
        session = aiohttp.ClientSession()
        headers = {"Origin": origin or server.url}
        if cookie:
            headers["Cookie"] = cookie
        ws = await session.ws_connect(
            f"{server.ws_url}/ws/conversations/{conversation_id}/", headers=headers
        )
        return cls(session, ws)

    @classmethod
    async def connect_events(cls, server, cookie: str):
        """The per-user socket (/ws/events/), as the images page holds it."""
        session = aiohttp.ClientSession()
        headers = {"Origin": server.url, "Cookie": cookie}
        ws = await session.ws_connect(f"{server.ws_url}/ws/events/", headers=headers)
        return cls(session, ws)

    async def send(self, payload: dict[str, Any] | str) -> None:
        await self.ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type} {self.ws.close_code}")
        event = json.loads(msg.data)
        self.received.append(event)
        return event

    async def until(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.next(timeout=max(0.1, deadline - loop.time()))
            if event["type"] == kind:
                return event

    async def close_code(self, timeout: float = 10) -> int | None:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()

    def deltas(self, message_id: str | None = None) -> str:
        return "".join(
            e["content"]
            for e in self.received
            if e["type"] == "delta" and (message_id is None or e["message_id"] == message_id)
        )


async def read_sse(response: aiohttp.ClientResponse, *, stop_after: int | None = None):
    """Parse an event stream into (id, data) pairs; stop at done/error or after N events."""
    events: list[tuple[int, dict[str, Any]]] = []
    event_id = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            events.append((event_id, data))
            if data["type"] in ("done", "error") or (stop_after and len(events) >= stop_after):
                break
    return events


async def post_event_stream(path: str, body: dict[str, Any], *, token: str) -> list[dict]:
    """POST `body` to an event-stream endpoint in process (Django's AsyncClient) with an API
    token; the `data:` payloads of the 200 response, read to its end."""
    from django.test import AsyncClient

    response = await AsyncClient().post(
        path, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.content
    text = b"".join([chunk async for chunk in response.streaming_content]).decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def browser_session(cookie: str) -> aiohttp.ClientSession:
    """An HTTP client holding a session cookie and accepting cookies from 127.0.0.1."""
    return aiohttp.ClientSession(
        headers={"Cookie": cookie}, cookie_jar=aiohttp.CookieJar(unsafe=True)
    )


def in_process_socket(user, conversation_id, *, headers: list[tuple[bytes, bytes]] = ()):
    """The conversation WebSocket without a server: Channels' communicator on the URL routes,
    with `user` and a real logged-in session of theirs put in the scope directly (for tests
    that inject channel-layer messages); `headers` are added to the handshake's."""
    from concurrent.futures import ThreadPoolExecutor

    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from config.websocket_urls import websocket_urlpatterns

    # Called from async tests, where the ORM refuses to run on the event loop's thread.
    with ThreadPoolExecutor(1) as pool:
        session = pool.submit(_logged_in_session, user).result()

    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns),
        f"/ws/conversations/{conversation_id}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), *headers],
    )
    communicator.scope["user"] = user
    communicator.scope["session"] = session
    return communicator


def _logged_in_session(user):
    from importlib import import_module

    from django.conf import settings
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(user)
    connection.close()  # this thread's connection ends with the thread
    return import_module(settings.SESSION_ENGINE).SessionStore(client.session.session_key)
