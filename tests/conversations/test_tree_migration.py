"""Migration 0003_message_tree: every existing conversation becomes a chain, losing nothing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.tree import active_path

BEFORE = [("conversations", "0002_conversation_client_id")]

CALL = {"id": "call_1", "type": "function", "function": {"name": "save_note", "arguments": "{}"}}


def _latest():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    # Every app's: going back to BEFORE also unapplies other apps' migrations that depend on
    # a later conversations migration.
    return executor.loader.graph.leaf_nodes()


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_each_conversation_becomes_a_chain_with_tool_messages_on_their_reply():
    executor = _migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model(settings.AUTH_USER_MODEL)
    OldConversation = old.get_model("conversations", "Conversation")
    OldMessage = old.get_model("conversations", "Message")
    owner = User.objects.create(username="before-trees")
    chat = OldConversation.objects.create(owner=owner, title="chain")
    empty = OldConversation.objects.create(owner=owner, title="empty")
    lone = OldConversation.objects.create(owner=owner, title="lone")
    t0 = timezone.now() - timedelta(days=1)

    def message(conversation, seconds, role, content="", **fields):
        return OldMessage.objects.create(
            conversation=conversation,
            role=role,
            content=content,
            created_at=t0 + timedelta(seconds=seconds),
            **fields,
        )

    q1 = message(chat, 1, "user", "Q1")
    a1 = message(chat, 2, "assistant", "A1", reply_to=q1)
    q2 = message(chat, 3, "user", "Q2")
    # A tool-using turn: its reply was moved after the tool messages when it finished.
    call = message(chat, 4, "assistant", tool_calls=[CALL], finish_reason="tool_calls")
    result = message(chat, 5, "tool", '{"saved": true}', tool_call_id="call_1")
    a2 = message(chat, 6, "assistant", "A2", reply_to=q2)
    q3 = message(chat, 7, "user", "Q3")
    # A turn whose process died after a tool round: its reply stayed before the tool messages.
    a3 = message(chat, 8, "assistant", "途中", reply_to=q3, status="interrupted")
    late_call = message(chat, 9, "assistant", tool_calls=[CALL], finish_reason="tool_calls")
    late_result = message(chat, 10, "tool", "{}", tool_call_id="call_1")
    only = message(lone, 1, "user", "ひとつだけ")
    before = sorted(OldMessage.objects.values_list("id", "role", "content", "status"))

    # Through 0003 and every later migration, so that today's models can read the result.
    _migrate(_latest())

    assert sorted(Message.objects.values_list("id", "role", "content", "status")) == before
    links = {
        m.pk: (m.parent_id, m.turn_reply_id)
        for m in Message.objects.filter(conversation_id=chat.pk)
    }
    assert links == {
        q1.pk: (None, None),
        a1.pk: (q1.pk, None),
        q2.pk: (a1.pk, None),
        call.pk: (None, a2.pk),
        result.pk: (None, a2.pk),
        a2.pk: (q2.pk, None),
        q3.pk: (a2.pk, None),
        a3.pk: (q3.pk, None),
        late_call.pk: (None, a3.pk),
        late_result.pk: (None, a3.pk),
    }
    migrated = Conversation.objects.get(pk=chat.pk)
    assert migrated.active_leaf_id == a3.pk
    assert [m.pk for m in active_path(migrated)] == [
        q1.pk,
        a1.pk,
        q2.pk,
        call.pk,
        result.pk,
        a2.pk,
        q3.pk,
        late_call.pk,
        late_result.pk,
        a3.pk,
    ]
    assert Conversation.objects.get(pk=empty.pk).active_leaf_id is None
    assert Conversation.objects.get(pk=lone.pk).active_leaf_id == only.pk
    assert Message.objects.get(pk=only.pk).parent_id is None
