"""The live store: each reply's event log, its stop flag and its runner's liveness flag.

With REDIS_URL it lives in Redis (shared by every process); without it, in this process's
memory (one process, in-memory channel layer). Django's cache API is not used here: its
async methods run in the single thread-sensitive executor, which would queue every token
behind ORM calls.
"""

import asyncio
import json
import time
import weakref

from django.conf import settings

from assistant.reply_events import ReplyEvent, from_log

# How long a finished reply's event log stays available for replay (Last-Event-ID, late
# joiners). After that, readers replay the stored message from the database instead.
EVENT_LOG_TTL_SECONDS = 3600


def events_key(message_id) -> str:
    return f"kaiwa:reply:{message_id}:events"


def stop_key(message_id) -> str:
    return f"kaiwa:reply:{message_id}:stop"


def alive_key(message_id) -> str:
    return f"kaiwa:reply:{message_id}:alive"


def _encoded(event: ReplyEvent) -> str:
    return json.dumps(event.as_log(), ensure_ascii=False)


class LocalStore:
    """In-process logs and flags: enough for one process with the in-memory channel layer.

    A log holds the event objects themselves: they are frozen, and no other process reads
    them, so nothing is encoded or decoded per event.
    """

    shared = False  # other processes cannot read it

    def __init__(self) -> None:
        self._events: dict[str, list] = {}
        self._expires: dict[str, float] = {}
        self._next_purge = 0.0

    async def append(self, key: str, event: ReplyEvent) -> None:
        self._purge()
        self._events.setdefault(key, []).append(event)
        self._expires[key] = time.monotonic() + EVENT_LOG_TTL_SECONDS

    async def read(self, key: str) -> list[ReplyEvent]:
        self._purge()
        return list(self._events.get(key, ()))

    async def set_flag(self, key: str) -> None:
        self._purge()
        self._events[key] = ["1"]
        self._expires[key] = time.monotonic() + EVENT_LOG_TTL_SECONDS

    async def get_flag(self, key: str) -> bool:
        self._purge()
        return key in self._events

    def _purge(self) -> None:
        # At most once a second: scanning every log on every event would grow with traffic.
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for key in [k for k, t in self._expires.items() if t < now]:
            self._events.pop(key, None)
            self._expires.pop(key, None)


class RedisStore:
    """Logs in Redis lists; one client per event loop (redis-py pools are loop-bound)."""

    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._sync_client = None  # redis-py's blocking client is thread-safe (a pool)

    def _client(self):
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.Redis.from_url(self.url)
            self._clients[loop] = client
        return client

    async def append(self, key: str, event: ReplyEvent) -> None:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.rpush(key, _encoded(event))
            pipe.expire(key, EVENT_LOG_TTL_SECONDS)
            await pipe.execute()

    async def append_and_publish(
        self, key: str, event: ReplyEvent, *, channel: str, message: bytes
    ) -> None:
        """`append`, then PUBLISH `message` on `channel`: one round trip, in this order."""
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.rpush(key, _encoded(event))
            pipe.expire(key, EVENT_LOG_TTL_SECONDS)
            pipe.publish(channel, message)
            await pipe.execute()

    async def read(self, key: str) -> list[ReplyEvent]:
        return [from_log(json.loads(raw)) for raw in await self._client().lrange(key, 0, -1)]

    async def set_flag(self, key: str) -> None:
        await self._client().set(key, "1", ex=EVENT_LOG_TTL_SECONDS)

    async def get_flag(self, key: str) -> bool:
        return bool(await self._client().exists(key))

    # Blocking calls, for threads (recovery in database threads, the liveness thread).

    def _blocking_client(self):
        if self._sync_client is None:
            import redis

            self._sync_client = redis.Redis.from_url(
                self.url, socket_timeout=2, socket_connect_timeout=2
            )
        return self._sync_client

    def flags_set(self, keys: list[str]) -> list[bool]:
        pipe = self._blocking_client().pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(found) for found in pipe.execute()]

    def set_flags(self, keys: list[str], ttl: float) -> None:
        pipe = self._blocking_client().pipeline(transaction=False)
        for key in keys:
            pipe.set(key, "1", px=int(ttl * 1000))
        pipe.execute()


# One store per REDIS_URL (None: the local one), made on first use: settings read late, so a
# test that changes REDIS_URL gets the matching store without resetting anything.
_stores: dict[str, LocalStore | RedisStore] = {}


def live_store() -> LocalStore | RedisStore:
    url = settings.REDIS_URL or ""
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = RedisStore(url) if url else LocalStore()
    return store
