"""The message tree (conversations/tree.py) and where it shows: the chat page's items, the
admin, selecting a version."""

import pytest

from conversations.errors import InvalidInput, TurnInProgress
from conversations.models import Conversation, Message
from conversations.services import conversation_clear, message_select
from conversations.tree import MessageTree, active_path, position_of
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(user):
    return ConversationFactory(owner=user)


def _branching(conversation) -> dict[str, Message]:
    """Q1 → A1 → Q2 → A2, with Q2' (an edit of Q2) → A2', and A1' (a regeneration of A1)."""
    m = {}
    m["Q1"] = MessageFactory(conversation=conversation, role="user", content="Q1")
    m["A1"] = MessageFactory(conversation=conversation, role="assistant", content="A1")
    m["Q2"] = MessageFactory(conversation=conversation, role="user", content="Q2")
    m["A2"] = MessageFactory(conversation=conversation, role="assistant", content="A2")
    m["Q2'"] = MessageFactory(conversation=conversation, content="Q2'", parent=m["A1"])
    m["A2'"] = MessageFactory(
        conversation=conversation, role="assistant", content="A2'", parent=m["Q2'"]
    )
    m["A1'"] = MessageFactory(
        conversation=conversation,
        role="assistant",
        content="A1'",
        parent=m["Q1"],
        becomes_active_leaf=False,
    )
    return m


def _contents(messages) -> list[str]:
    return [m.content for m in messages]


def test_the_active_path_ends_at_the_active_leaf(conversation):
    m = _branching(conversation)
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == m["A2'"].pk
    assert _contents(active_path(conversation)) == ["Q1", "A1", "Q2'", "A2'"]
    assert _contents(active_path(conversation, leaf_id=m["A2"].pk)) == ["Q1", "A1", "Q2", "A2"]


def test_positions_count_versions_by_creation(conversation):
    m = _branching(conversation)
    tree = MessageTree.of(conversation.pk)
    assert (tree.position(m["Q2"].pk).index, tree.position(m["Q2"].pk).count) == (0, 2)
    assert (tree.position(m["Q2'"].pk).index, tree.position(m["Q2'"].pk).count) == (1, 2)
    assert (tree.position(m["A1'"].pk).index, tree.position(m["A1'"].pk).count) == (1, 2)
    assert (tree.position(m["Q1"].pk).index, tree.position(m["Q1"].pk).count) == (0, 1)
    # Read one at a time, the same answer.
    fresh = Message.objects.get(pk=m["Q2'"].pk)
    assert (position_of(fresh).index, position_of(fresh).count) == (1, 2)


def test_the_newest_leaf_under_a_message_follows_the_newest_child(conversation):
    m = _branching(conversation)
    tree = MessageTree.of(conversation.pk)
    assert tree.newest_leaf_under(m["Q1"].pk) == m["A1'"].pk  # A1' is Q1's newest child
    assert tree.newest_leaf_under(m["A1"].pk) == m["A2'"].pk
    assert tree.newest_leaf_under(m["Q2"].pk) == m["A2"].pk
    assert tree.newest_leaf_under(m["A2"].pk) == m["A2"].pk


def test_select_moves_the_leaf_and_is_refused_while_a_turn_runs(conversation):
    m = _branching(conversation)
    selected = message_select(message=Message.objects.get(pk=m["Q2"].pk))
    assert selected.active_leaf_id == m["A2"].pk
    assert Conversation.objects.get(pk=conversation.pk).active_leaf_id == m["A2"].pk

    Conversation.objects.filter(pk=conversation.pk).update(active_turn=m["A2"])
    with pytest.raises(TurnInProgress):
        message_select(message=Message.objects.get(pk=m["Q1"].pk))
    assert Conversation.objects.get(pk=conversation.pk).active_leaf_id == m["A2"].pk


def test_tool_messages_are_no_versions(conversation):
    m = _branching(conversation)
    tool = MessageFactory(conversation=conversation, role="tool", content="{}", turn_reply=m["A2'"])
    assert tool.parent_id is None
    assert _contents(active_path(conversation)) == ["Q1", "A1", "Q2'", "{}", "A2'"]
    assert (position_of(tool).index, position_of(tool).count) == (0, 1)
    with pytest.raises(InvalidInput):
        message_select(message=tool)


def test_a_conversation_without_a_stored_leaf_reads_its_newest_message(conversation):
    m = _branching(conversation)
    Conversation.objects.filter(pk=conversation.pk).update(active_leaf=None)
    conversation.refresh_from_db()
    assert _contents(active_path(conversation)) == ["Q1", "A1'"]
    assert m["A1'"].pk == active_path(conversation)[-1].pk


def test_clear_resets_the_leaf(conversation):
    _branching(conversation)
    assert conversation_clear(conversation=conversation) == 7
    assert Conversation.objects.get(pk=conversation.pk).active_leaf_id is None


def test_the_chat_page_shows_the_active_path_with_versions(client, user, conversation):
    m = _branching(conversation)
    client.force_login(user)
    response = client.get(f"/c/{conversation.id}/")
    items = [
        (i.content, i.parent_id, i.sibling_index, i.sibling_count)
        for i in response.context["items"]
    ]
    assert items == [
        ("Q1", "", 0, 1),
        ("A1", str(m["Q1"].pk), 0, 2),
        ("Q2'", str(m["A1"].pk), 1, 2),
        ("A2'", str(m["Q2'"].pk), 0, 1),
    ]
    assert "A2" not in [i.content for i in response.context["items"]]


def test_the_admin_shows_each_messages_parent_and_version(client, conversation):
    _branching(conversation)
    staff = UserFactory(username="tree-staff", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get(f"/admin/conversations/conversation/{conversation.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "2 / 2" in html and "1 / 2" in html
    assert "user: Q1" in html  # the parent of A1 and A1', shown read-only
    assert 'name="messages-0-parent"' not in html
