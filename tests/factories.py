"""Factories for the test suite: factory_boy model factories, and objects made with a secret."""

import factory
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.invites import invite_token_new
from accounts.models import Invite
from accounts.services import api_token_create
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


def _active_leaf(message) -> Message | None:
    """The conversation's active leaf as stored (the in-memory conversation may be stale)."""
    leaf_id = (
        Conversation.objects.filter(pk=message.conversation.pk)
        .values_list("active_leaf", flat=True)
        .first()
    )
    return Message.objects.filter(pk=leaf_id).first() if leaf_id else None


class MessageFactory(factory.django.DjangoModelFactory):
    """A message that continues its conversation's active path, as a send would (unless a
    `parent` or a `turn_reply` is given), and becomes its active leaf."""

    class Meta:
        model = Message
        skip_postgeneration_save = True

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"message {n}")
    status = Message.Status.COMPLETE
    turn_reply = None
    parent = factory.LazyAttribute(lambda o: None if o.turn_reply else _active_leaf(o))

    @factory.post_generation
    def becomes_active_leaf(obj, create, extracted, **kwargs):
        if not create or obj.turn_reply_id is not None or extracted is False:
            return
        Conversation.objects.filter(pk=obj.conversation_id).update(active_leaf=obj)
        obj.conversation.active_leaf = obj


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


def bearer_client(user, *, name: str = "tests") -> APIClient:
    """An API client that sends a real Bearer token of `user` (a new token called `name`)."""
    _, token = api_token_create(user=user, name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
