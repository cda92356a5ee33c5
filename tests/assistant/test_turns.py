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
