"""The turn tasks' database thread pool.

Turns outlive requests, so their ORM calls cannot use a request's thread. They run on a
small pool of threads of their own, each holding one connection that is checked (and
returned to psycopg's pool) around every call, as Django does around requests.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

_executor = ThreadPoolExecutor(
    max_workers=getattr(settings, "TURN_DB_THREADS", 4), thread_name_prefix="kaiwa-turn-db"
)


def in_db_thread(fn):
    """Make a sync ORM function awaitable, run on the turn database threads."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(wrapper, thread_sensitive=False, executor=_executor)
