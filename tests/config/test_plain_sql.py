"""config.plain_sql: the turn's hot statements without the ORM give what the ORM gives."""

import datetime
import uuid

import pytest
from django.utils import timezone

from config import plain_sql
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory
from usage.models import TurnReservation

pytestmark = pytest.mark.django_db


def test_insert_stores_every_field_as_the_orm_reads_it(user):
    conversation = ConversationFactory(owner=user)
    question = Message(
        conversation=conversation, role="user", content="質問", client_id=uuid.uuid4()
    )
    answer = Message(
        conversation=conversation,
        role="assistant",
        status=Message.Status.PENDING,
        reply_to=question,
        parent=question,
        tool_calls=[{"id": "c1", "type": "function"}],
    )
    plain_sql.insert([question, answer])
    stored = Message.objects.get(pk=answer.pk)
    assert stored.reply_to_id == question.pk and stored.parent_id == question.pk
    assert stored.status == "pending" and stored.tool_calls == [{"id": "c1", "type": "function"}]
    assert stored.updated_at is not None  # auto_now applied, as save() would
    assert Message.objects.get(pk=question.pk).client_id == question.client_id
    assert not answer._state.adding  # a later save() updates instead of inserting again


def test_insert_leaves_an_unset_auto_primary_key_to_the_database(user):
    day = datetime.date(2026, 1, 2)
    plain_sql.insert([TurnReservation(message_id=uuid.uuid4(), user=user, day=day, tokens=7)])
    plain_sql.insert([TurnReservation(message_id=uuid.uuid4(), user=user, day=day, tokens=8)])
    rows = list(TurnReservation.objects.filter(user=user).order_by("pk"))
    assert [r.tokens for r in rows] == [7, 8] and rows[0].pk < rows[1].pk
    assert rows[0].day == day and rows[0].created_at is not None


def test_update_changes_only_a_row_that_matches_its_conditions(user):
    conversation = ConversationFactory(owner=user)
    reply = Message.objects.create(conversation=conversation, role="assistant", status="pending")
    now = timezone.now()
    unfinished = (Message.Status.PENDING, Message.Status.STREAMING)
    values = {"status": "complete", "content": "終わり", "heartbeat_at": None, "updated_at": now}
    assert plain_sql.update(Message, reply.pk, values, status=unfinished) == 1
    assert plain_sql.update(Message, reply.pk, {"content": "later"}, status=unfinished) == 0
    reply.refresh_from_db()
    assert (reply.status, reply.content, reply.updated_at) == ("complete", "終わり", now)
    # A foreign key by its name, set and cleared, and a condition on one.
    assert plain_sql.update(Conversation, conversation.pk, {"active_turn": reply.pk}) == 1
    assert (
        plain_sql.update(
            Conversation, conversation.pk, {"active_turn": None}, active_turn=uuid.uuid4()
        )
        == 0
    )
    assert Conversation.objects.get(pk=conversation.pk).active_turn_id == reply.pk


def test_get_and_get_for_update_read_a_row_or_raise_does_not_exist(user):
    conversation = ConversationFactory(owner=user, title="題", temperature=0.5)
    for read in (plain_sql.get, plain_sql.get_for_update):
        got = read(Conversation, conversation.pk)
        assert isinstance(got, Conversation)
        assert (got.pk, got.title, got.temperature, got.owner_id) == (
            conversation.pk,
            "題",
            0.5,
            user.pk,
        )
        with pytest.raises(Conversation.DoesNotExist):
            read(Conversation, uuid.uuid4())


def test_update_many_sets_each_row_under_the_same_conditions(user):
    conversation = ConversationFactory(owner=user)
    first, second, done = (
        Message.objects.create(conversation=conversation, role="assistant", status=status)
        for status in ("pending", "streaming", "complete")
    )
    now = timezone.now()
    unfinished = (Message.Status.PENDING, Message.Status.STREAMING)
    plain_sql.update_many(
        Message,
        ("content", "status", "heartbeat_at"),
        [(pk, (text, "streaming", now)) for pk, text in ((first.pk, "一"), (second.pk, "二"))]
        + [(done.pk, ("later", "streaming", now))],
        status=unfinished,
    )
    stored = {m.pk: m for m in Message.objects.filter(conversation=conversation)}
    assert (stored[first.pk].content, stored[first.pk].status) == ("一", "streaming")
    assert (stored[second.pk].content, stored[second.pk].heartbeat_at) == ("二", now)
    assert (stored[done.pk].content, stored[done.pk].status) == ("", "complete")
    plain_sql.update_many(Message, ("content",), [])  # nothing to write: no statement
