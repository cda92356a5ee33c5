"""Reads: lists, history and search, always scoped to one user."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from conversations.models import Conversation, Message, SavedNote


def conversation_list(*, user, search: str = "") -> QuerySet[Conversation]:
    """The user's conversations, newest first, optionally searched by title and message text."""
    qs = Conversation.objects.for_user(user)
    search = search.strip()
    if search:
        matching_message = Message.objects.filter(
            conversation=OuterRef("pk"), content__icontains=search
        )
        qs = qs.filter(Q(title__icontains=search) | Exists(matching_message))
    return qs.order_by("-updated_at", "-id")


def conversation_get(*, user, conversation_id) -> Conversation:
    """One of the user's conversations (Conversation.DoesNotExist otherwise)."""
    return Conversation.objects.for_user(user).get(pk=conversation_id)


def message_history(*, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages, oldest first."""
    return conversation.messages.order_by("created_at", "id")


def note_list(*, user) -> QuerySet[SavedNote]:
    """The user's notes, newest first."""
    return SavedNote.objects.for_user(user).order_by("-created_at", "-id")
