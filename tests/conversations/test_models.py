import pytest
from django.db import IntegrityError, transaction

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_client_id_is_unique_per_conversation_in_the_database():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, client_id="7b1c7a47-6a3e-4d57-9f5e-3c0d5e1d2a11")
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(conversation=conversation, client_id="7b1c7a47-6a3e-4d57-9f5e-3c0d5e1d2a11")
    # The same client_id in another conversation is fine, and NULLs never collide.
    MessageFactory(client_id="7b1c7a47-6a3e-4d57-9f5e-3c0d5e1d2a11")
    MessageFactory(conversation=conversation, client_id=None)
    MessageFactory(conversation=conversation, client_id=None)


def test_temperature_range_is_a_database_constraint():
    with pytest.raises(IntegrityError), transaction.atomic():
        ConversationFactory(temperature=3.0)


def test_for_user_scopes_messages_through_their_conversation(user, other_user):
    mine = MessageFactory(conversation=ConversationFactory(owner=user))
    MessageFactory(conversation=ConversationFactory(owner=other_user))
    assert list(Message.objects.for_user(user)) == [mine]
    assert Conversation.objects.for_user(None).count() == 0
