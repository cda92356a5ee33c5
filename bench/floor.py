"""The floor of the stack: the same WebSocket turn with none of Kaiwa's own work.

    python -m bench --n 50,200 --floor

An ASGI application for daphne made of the parts DESIGN.md prescribes and nothing else:
Channels' origin check, session authentication and `AsyncWebsocketConsumer`, and Kaiwa's
backend reading the upstream through the `openai` SDK (its aiohttp transport, the stream
body decoded with `json.loads`). A `send` is answered with `user_message`, `start`, one
`delta` per upstream token (joined as Kaiwa joins them) and `done`, straight from the
socket's own task: no database, no channel layer, no live log, no persistence, no Markdown.

It is not a server anyone should run. It measures how much of the added time to first token
belongs to the stack itself, under the same load as Kaiwa: whatever this floor adds at a
level, Kaiwa built on the same stack cannot add less.
"""

import asyncio
import json
import logging
import os
import time
import uuid

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from assistant.backends import get_backend  # noqa: E402
from assistant.backends.base import ChatOptions, StreamEnd, TextDelta  # noqa: E402
from assistant.startup import freeze_startup_objects, shorten_gil_switch_interval  # noqa: E402
from assistant.turn_runner.coalescer import Coalescer  # noqa: E402

# The benchmark waits for one `turn_finished` line per turn, as Kaiwa's runner logs it.
logger = logging.getLogger("kaiwa.turns")


class FloorConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        self.turns: set[asyncio.Task] = set()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        command = json.loads(text_data or "{}")
        content = command.get("content", "")
        message_id = str(uuid.uuid4())
        await self.send_event({"type": "user_message", "message": {"id": str(uuid.uuid4())}})
        # The reply runs as its own task, as Kaiwa's does, not inside the receive handler.
        task = asyncio.create_task(self._reply(message_id, content))
        self.turns.add(task)
        task.add_done_callback(self.turns.discard)

    async def _reply(self, message_id: str, content: str) -> None:
        started = time.monotonic()
        out = _SocketPublisher(self, message_id)
        await out.publish({"type": "start"})
        # Kaiwa's own coalescing (STREAM_COALESCE_MS): a busy process sends fewer, longer
        # deltas, so the floor pays no more WebSocket frames than Kaiwa does.
        deltas = Coalescer(
            lambda text: out.publish({"type": "message", "content": text}),
            settings.STREAM_COALESCE_MS / 1000,
        )
        parts: list[str] = []
        finish_reason = None
        stream = get_backend().stream_chat(
            messages=[{"role": "user", "content": content}], options=ChatOptions()
        )
        async for event in stream:
            if isinstance(event, TextDelta):
                parts.append(event.text)
                await deltas.add(event.text)
            elif isinstance(event, StreamEnd):
                finish_reason = event.finish_reason
        await deltas.flush()
        await out.publish(
            {
                "type": "done",
                "status": "complete",
                "content": "".join(parts),
                "html": "",
                "finish_reason": finish_reason,
                "usage": None,
            }
        )
        logger.info(
            "turn_finished",
            extra={
                "message_id": message_id,
                "status": "complete",
                "latency_ms": round((time.monotonic() - started) * 1000),
                "events": out.seq,
                "db_flushes": 0,
            },
        )

    async def send_event(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False))


class _SocketPublisher:
    """In place of Kaiwa's ReplyPublisher: each event straight to the one socket."""

    def __init__(self, consumer: FloorConsumer, message_id: str) -> None:
        self.consumer = consumer
        self.message_id = message_id
        self.seq = 0

    async def publish(self, event: dict) -> int:
        self.seq += 1
        kind = "delta" if event["type"] == "message" else event["type"]
        await self.consumer.send_event(
            {**event, "type": kind, "message_id": self.message_id, "seq": self.seq}
        )
        return self.seq


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,  # /healthz, which the benchmark polls before it starts
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [path("ws/conversations/<uuid:conversation_id>/", FloorConsumer.as_asgi())]
                )
            )
        ),
    }
)

# As config/asgi.py does: a lower bound should not pay collections, or GIL waits, that Kaiwa
# no longer pays.
shorten_gil_switch_interval()
freeze_startup_objects()
