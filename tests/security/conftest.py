"""Fixtures of the security suite: an owner with one of everything, and an intruder."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create
from assistant.models import GeneratedImage
from conversations.models import Attachment, Conversation, Message, SavedNote
from tests.factories import (
    ConversationFactory,
    MessageFactory,
    SavedNoteFactory,
    UserFactory,
    bearer_client,
)
from tests.fakes.openai_server import tiny_png
from tests.security.endpoints import Operation


@dataclass
class Owned:
    """One object of every kind, all belonging to `user`."""

    user: object
    conversation: Conversation
    user_message: Message
    reply: Message
    note: SavedNote
    image: GeneratedImage
    token: ApiToken
    plaintext_token: str
    attachment: Attachment

    def object_id(self, operation: Operation) -> str:
        """The owner's object that an operation's {id} names."""
        ids = {
            "conversations": self.conversation.id,
            "messages": self.reply.id,
            "notes": self.note.id,
            "images": self.image.id,
            "tokens": self.token.public_id,
            "attachments": self.attachment.id,
        }
        if operation.resource not in ids:
            pytest.fail(
                f"{operation}: no owned object for /api/{operation.resource}/ — add one to "
                "tests/security/conftest.py so the new endpoint is tried as another user"
            )
        return str(ids[operation.resource])

    def url(self, operation: Operation) -> str:
        return operation.path.replace("{id}", self.object_id(operation))

    def body(self, operation: Operation) -> dict:
        """A plausible body for any unsafe operation, pointing at the owner's objects."""
        if not operation.unsafe or operation.method == "delete":
            return {}
        return {
            "message": "乗っ取り",
            "content": "乗っ取り",
            "text": "乗っ取り",
            "prompt": "a cat",
            "size": "1024x1024",
            "title": "pwned",
            "name": "pwned",
            "conversation_id": str(self.conversation.id),
            "conversation": str(self.conversation.id),
            "client_id": str(uuid.uuid4()),
        }

    def snapshot(self) -> dict:
        """Everything an attack on the owner could change."""
        conversation = Conversation.objects.filter(pk=self.conversation.pk).values().first()
        return {
            "conversation": conversation,
            "conversations": sorted(
                Conversation.objects.filter(owner=self.user).values_list("id", flat=True)
            ),
            "messages": list(
                Message.objects.filter(conversation__owner=self.user)
                .order_by("created_at", "id")
                .values_list("id", "content", "status")
            ),
            "notes": list(
                SavedNote.objects.filter(owner=self.user).values("id", "title", "content")
            ),
            "images": list(GeneratedImage.objects.filter(owner=self.user).values("id", "prompt")),
            "tokens": sorted(
                ApiToken.objects.filter(user=self.user).values_list("digest", flat=True)
            ),
            "attachments": list(
                Attachment.objects.filter(owner=self.user).values_list("id", "name", "file")
            ),
        }

    def markers(self) -> list[str]:
        """Strings that only the owner's data contains: none may reach anyone else."""
        ids = [
            self.conversation.id,
            self.reply.id,
            self.image.id,
            self.token.public_id,
            self.attachment.id,
        ]
        # (The note's id is a small integer, so its marker is its OWNER-PRIVATE title.)
        return [*map(str, ids), self.token.token_key, "OWNER-PRIVATE"]


@pytest.fixture
def owned(db) -> Owned:
    user = UserFactory(username="owner")
    conversation = ConversationFactory(owner=user, title="OWNER-PRIVATE title")
    user_message = MessageFactory(conversation=conversation, content="OWNER-PRIVATE question")
    reply = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="OWNER-PRIVATE answer",
        reply_to=user_message,
        model="gpt-test",
    )
    note = SavedNoteFactory(owner=user, title="OWNER-PRIVATE note", conversation=conversation)
    png = tiny_png()
    image = GeneratedImage.objects.create(
        owner=user,
        prompt="OWNER-PRIVATE prompt",
        size="1024x1024",
        model="dall-e-3",
        file=ContentFile(png, name="owner.png"),
        content_type="image/png",
        byte_size=len(png),
    )
    token, plaintext = api_token_create(user=user, name="OWNER-PRIVATE token")
    attachment = Attachment.objects.create(
        owner=user,
        conversation=conversation,
        kind=Attachment.Kind.IMAGE,
        name="OWNER-PRIVATE.png",
        content_type="image/png",
        byte_size=len(png),
        file=ContentFile(png, name="owner.png"),
        width=1,
        height=1,
    )
    return Owned(user, conversation, user_message, reply, note, image, token, plaintext, attachment)


@pytest.fixture
def intruder(db):
    return UserFactory(username="intruder")


@pytest.fixture
def intruder_bearer(intruder) -> APIClient:
    return bearer_client(intruder, name="intruder")


@pytest.fixture
def intruder_session(intruder) -> APIClient:
    client = APIClient()  # CSRF is not what these tests are about
    client.force_login(intruder)
    return client


# The browser tests' session-wide Chromium (tests/browser/conftest.py), for the CSP checks.
from tests.browser.conftest import browser, chromium_path  # noqa: E402, F401
