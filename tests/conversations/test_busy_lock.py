"""Refusing a busy conversation also locks it: a turn start cannot slip in between the check
and the caller's writes (select, clear, delete); a message cleared meanwhile is a 404."""

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from conversations.errors import NotFound
from conversations.models import Conversation, Message
from conversations.services import _refuse_if_busy, message_select
from tests.factories import ConversationFactory, MessageFactory


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks are PostgreSQL's; SQLite serialises every write transaction",
)
def test_an_idle_conversation_is_locked_by_the_check(user):
    conversation = ConversationFactory(owner=user)
    checked, done = threading.Event(), threading.Event()

    def hold_the_check() -> None:
        with transaction.atomic():
            _refuse_if_busy(conversation)
            checked.set()
            done.wait(10)

    holder = threading.Thread(target=hold_the_check)
    holder.start()
    try:
        assert checked.wait(10)
        # A turn start locks the same row first: while the check's transaction runs, it waits.
        with pytest.raises(DatabaseError), transaction.atomic():
            Conversation.objects.select_for_update(nowait=True).get(pk=conversation.pk)
    finally:
        done.set()
        holder.join()


@pytest.mark.django_db
def test_selecting_a_message_cleared_meanwhile_is_not_found(user):
    conversation = ConversationFactory(owner=user)
    question = MessageFactory(conversation=conversation, role="user", content="Q")
    Message.objects.filter(pk=question.pk).delete()  # a clear in another request
    with pytest.raises(NotFound):
        message_select(message=question)
    conversation.refresh_from_db()
    assert conversation.active_leaf_id is None
