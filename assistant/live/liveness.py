"""Which replies and image jobs have a live runner, here or in another process (both are
named by UUIDs, so one set holds them)."""

import logging
import math
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from assistant.live.store import RedisStore, alive_key, live_store

logger = logging.getLogger("kaiwa.turns")


class Liveness:
    """The replies this process is running, told to every process through Redis.

    A thread of its own, not the event loop and not the database, says so a few times per
    STREAM_STALE_AFTER_SECONDS: an overloaded process can queue its database writes (the
    replies' heartbeats) and even its event loop for longer than that, and is slow, not
    dead. Without Redis there is one process, and its own set is the whole answer.

    A reply that starts is told at once, on its own; the whole set only on the regular
    beat (telling the whole set at every start would write a flag per running reply per
    start).
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._untold: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, message_id) -> None:
        with self._lock:
            self._ids.add(str(message_id))
            self._untold.add(str(message_id))
            if settings.REDIS_URL and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._beat, name="kaiwa-liveness", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def discard(self, message_id) -> None:
        with self._lock:
            self._ids.discard(str(message_id))
            self._untold.discard(str(message_id))

    def here(self) -> set[str]:
        with self._lock:
            return set(self._ids)

    def _beat(self) -> None:
        last_beat = -math.inf
        while True:
            ttl = settings.STREAM_STALE_AFTER_SECONDS
            self._wake.wait(max(0.0, last_beat + ttl / 4 - time.monotonic()))
            self._wake.clear()
            with self._lock:
                if time.monotonic() >= last_beat + ttl / 4:
                    ids = set(self._ids)
                    last_beat = time.monotonic()
                else:
                    ids = set(self._untold)
                self._untold.clear()
            store = live_store()
            if ids and isinstance(store, RedisStore):
                try:
                    store.set_flags([alive_key(i) for i in ids], ttl)
                except Exception:  # Redis away: readers fall back on the database heartbeat
                    logger.warning("liveness_not_published", exc_info=True)


running = Liveness()


def dead_among(unfinished: QuerySet) -> list:
    """The ids of `unfinished` (replies or image jobs not yet ended: rows with `heartbeat_at`
    and `created_at`) whose runner is gone: a heartbeat older than STREAM_STALE_AFTER_SECONDS
    (none yet: created before that) and no process that says it runs them.

    Readers call this often: it looks only, and asks the live store only about stale rows.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.STREAM_STALE_AFTER_SECONDS)
    stale = unfinished.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    ids = list(stale.values_list("pk", flat=True))
    return _without_live_runner(ids) if ids else []


def _without_live_runner(ids: list) -> list:
    """Those of `ids` that no process runs, judged by the database heartbeat alone when the
    live store is away."""
    try:
        alive = alive_among(ids)
    except Exception:
        logger.warning("recovery_liveness_unknown", exc_info=True)
        alive = set()
    return [pk for pk in ids if pk not in alive]


def alive_among(message_ids: list) -> set:
    """Those of `message_ids` whose runner is alive, here or in another process."""
    here = running.here()
    alive = {m for m in message_ids if str(m) in here}
    elsewhere = [m for m in message_ids if m not in alive]
    store = live_store()
    if elsewhere and isinstance(store, RedisStore):
        found = store.flags_set([alive_key(m) for m in elsewhere])
        alive.update(m for m, yes in zip(elsewhere, found, strict=True) if yes)
    return alive
