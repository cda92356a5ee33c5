"""A blocking POST that waits for a running turn waits on the turn, not on the database."""

import threading
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply

pytestmark = pytest.mark.django_db(transaction=True)


def _repeat_while_running(api_client, llm_upstream, user, *, seconds: float):
    """POST a send, and while its reply streams for about `seconds`, POST it again (same
    client_id: the second request waits for the first's reply). Returns the second
    response, the queries it made, and how long it took."""
    conversation = ConversationFactory(owner=user)
    client_id = str(uuid.uuid4())
    url = f"/api/conversations/{conversation.id}/messages/"
    chunks = 10
    llm_upstream.enqueue(
        reply("待つ" * chunks, chunks=["待つ"] * chunks, interval=seconds / chunks)
    )
    earlier_requests = len(llm_upstream.chat_requests())
    first = {}
    thread = threading.Thread(
        target=lambda: first.setdefault(
            "response",
            api_client.post(url, {"content": "一回", "client_id": client_id}, format="json"),
        )
    )
    thread.start()
    llm_upstream.wait_for_requests(earlier_requests + 1, kind="chat", timeout=5)
    with CaptureQueriesContext(connection) as queries:
        started = time.monotonic()
        again = api_client.post(url, {"content": "一回", "client_id": client_id}, format="json")
        took = time.monotonic() - started
    thread.join(20)
    assert again.status_code == 200, again.content
    assert again.json()["assistant_message"]["content"] == "待つ" * chunks
    assert again.json()["assistant_message"]["status"] == "complete"
    return again, len(queries), took


def test_the_wait_costs_the_same_queries_however_long_the_reply_takes(
    api_client, llm_upstream, user
):
    _, short_queries, short_took = _repeat_while_running(
        api_client, llm_upstream, user, seconds=0.5
    )
    _, long_queries, long_took = _repeat_while_running(api_client, llm_upstream, user, seconds=3)
    assert long_took > short_took + 1.5  # the second request did wait for the longer reply
    # Polling would read the reply again every few hundred milliseconds while it runs.
    assert long_queries <= short_queries
