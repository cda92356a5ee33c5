"""factory_boy factories for the test suite."""

import factory
from django.contrib.auth import get_user_model

from accounts.invites import invite_token_new
from accounts.models import Invite
from conversations.models import Conversation, Message, SavedNote


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-123")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Conversation {n}")
    system_prompt = "You are a test assistant."


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"message {n}")
    status = Message.Status.COMPLETE


class SavedNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedNote

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Note {n}")
    content = "note content"


def invite_with_token(*, created_by, note: str = "", expires_at=None) -> tuple[Invite, str]:
    """An invitation as staff make it in the admin, and its token (which only the link holds)."""
    token, digest = invite_token_new()
    fields = {"expires_at": expires_at} if expires_at is not None else {}
    invite = Invite.objects.create(token_digest=digest, note=note, created_by=created_by, **fields)
    return invite, token
