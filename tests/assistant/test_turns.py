"""Starting a turn (assistant/turns.py): what one short transaction stores."""

import uuid

import pytest

from assistant.turns import turn_start
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_a_turn_stores_the_message_and_a_pending_reply_pointing_at_it(user):
    conversation = ConversationFactory(owner=user)
    client_id = uuid.uuid4()

    turn = turn_start(user=user, content="質問です", conversation=conversation, client_id=client_id)

    stored_user = Message.objects.get(pk=turn.user_message.pk)
    stored_reply = Message.objects.get(pk=turn.reply.pk)
    assert (stored_user.role, stored_user.content, stored_user.client_id) == (
        "user",
        "質問です",
        client_id,
    )
    assert (stored_reply.role, stored_reply.status) == ("assistant", "pending")
    assert stored_reply.reply_to_id == stored_user.pk
    assert stored_user.created_at < stored_reply.created_at  # history order: question first
    assert Conversation.objects.get(pk=conversation.pk).active_turn_id == stored_reply.pk


def test_an_untitled_conversation_takes_its_title_from_the_first_line(user):
    conversation = ConversationFactory(owner=user, title="")

    turn_start(user=user, content="  旅行の計画\n詳しくはこれから", conversation=conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "旅行の計画"


def test_a_titled_conversation_keeps_its_title(user):
    conversation = ConversationFactory(owner=user, title="決めた題名")

    turn_start(user=user, content="別の話", conversation=conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "決めた題名"


def test_a_long_first_line_is_cut_to_sixty_characters(user):
    conversation = ConversationFactory(owner=user, title="")

    turn_start(user=user, content="あ" * 100, conversation=conversation)

    assert Conversation.objects.get(pk=conversation.pk).title == "あ" * 60


def _answered(turn, text: str) -> None:
    Message.objects.filter(pk=turn.reply.pk).update(status="complete", content=text)
    Conversation.objects.filter(pk=turn.conversation.pk).update(active_turn=None)


def test_a_started_turns_context_and_user_message_are_those_the_database_gives(
    user, django_assert_num_queries
):
    """What the starter hands the runner and the socket (the context, the user message's
    place among its versions) without reading them back equals what a reader gets from the
    database: for a conversation's first message, a later one and an edit."""
    from assistant.turn_runner.loading import load_pending_turn, load_started_turn
    from conversations.api.serializers import MessageOutputSerializer

    conversation = ConversationFactory(owner=user, system_prompt="sys")
    starts = [
        lambda: turn_start(user=user, content="Q1", conversation=conversation),
        lambda: turn_start(user=user, content="Q2", conversation=conversation),
        lambda: turn_start(user=user, content="Q2 改", edit_of=turns[1].user_message),
    ]
    turns, contexts, sent = [], [], []
    for start in starts:
        turn = start()
        turns.append(turn)
        loaded = load_started_turn(turn, user=user)
        assert loaded.context == load_pending_turn(turn.reply.pk, None).context
        contexts.append([m["content"] for m in loaded.context])
        with django_assert_num_queries(0):
            sent.append(MessageOutputSerializer(turn.user_message).data)
        assert (
            sent[-1] == MessageOutputSerializer(Message.objects.get(pk=turn.user_message.pk)).data
        )
        _answered(turn, f"A{len(turns)}")

    assert [t.first_exchange for t in turns] == [True, False, False]
    assert contexts == [["sys", "Q1"], ["sys", "Q1", "A1", "Q2"], ["sys", "Q1", "A1", "Q2 改"]]
    assert [(m["parent_id"], m["sibling_index"], m["sibling_count"]) for m in sent] == [
        (None, 0, 1),
        (str(turns[0].reply.pk), 0, 1),
        (str(turns[0].reply.pk), 1, 2),
    ]
