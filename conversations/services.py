"""Writes to conversations, messages and notes. Keyword-only, typed, one transaction each."""

import uuid

from django.conf import settings
from django.db import transaction

from conversations.allowed_models import require_allowed
from conversations.errors import InvalidInput, NotFound, TurnInProgress
from conversations.models import Attachment, Conversation, Message, MessageAttachment, SavedNote
from conversations.tree import MessageTree
from conversations.validation import (
    validate_max_tokens,
    validate_system_prompt,
    validate_temperature,
    validate_title,
)

_UNSET = object()


def _default_title(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line[:60]


@transaction.atomic
def conversation_create(
    *,
    owner,
    title: str = "",
    system_prompt: str | None = None,
    model: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    client_id: uuid.UUID | None = None,
    source: str = Conversation.Source.WEB,
) -> Conversation:
    """Create a conversation (`source`: where it was started); the system prompt defaults
    to LLM_SYSTEM_PROMPT, the model ("" = the default) must be one of LLM_MODELS, the rest
    follow conversations.validation (InvalidInput otherwise).

    A `client_id` the owner already used for another conversation raises IntegrityError.
    """
    require_allowed(model)
    validate_title(title)
    if system_prompt is not None:  # the operator's LLM_SYSTEM_PROMPT is not held to the limit
        validate_system_prompt(system_prompt)
    validate_temperature(temperature)
    validate_max_tokens(max_tokens)
    return Conversation.objects.create(
        owner=owner,
        client_id=client_id,
        title=title,
        system_prompt=settings.LLM_SYSTEM_PROMPT if system_prompt is None else system_prompt,
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        source=source,
    )


@transaction.atomic
def conversation_update(*, conversation: Conversation, **changes) -> Conversation:
    """Change a conversation's title, system prompt or model parameters (each checked as
    conversation_create checks it)."""
    rules = {
        "title": validate_title,
        "system_prompt": validate_system_prompt,
        "model": require_allowed,
        "temperature": validate_temperature,
        "max_tokens": validate_max_tokens,
    }
    unknown = set(changes) - set(rules)
    if unknown:
        raise TypeError(f"conversation_update() got unexpected fields: {sorted(unknown)}")
    for field, value in changes.items():
        rules[field](value)
    for field, value in changes.items():
        setattr(conversation, field, value)
    conversation.save(update_fields=[*changes, "updated_at"])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation and its messages; refused while a turn runs."""
    _refuse_if_busy(conversation)
    conversation.delete()


@transaction.atomic
def conversation_clear(*, conversation: Conversation) -> int:
    """Delete the conversation's messages and keep the conversation; returns how many."""
    _refuse_if_busy(conversation)
    # The attachments sent with those messages go too (their files once committed); those
    # uploaded and not sent yet stay for the next message.
    sent = MessageAttachment.objects.filter(message__conversation=conversation)
    Attachment.objects.filter(pk__in=sent.values("attachment_id")).delete()
    deleted, _ = conversation.messages.all().delete()
    conversation.active_leaf = None
    conversation.save(update_fields=["active_leaf", "updated_at"])
    return deleted


@transaction.atomic
def message_select(*, message: Message) -> Conversation:
    """Make the conversation's active path go through `message`, down to the newest leaf
    under it (the newest child at each step); returns the conversation with its new leaf.

    Refused while a turn runs, so the reply being written stays on the shown path. Tool
    messages are not versions of anything (InvalidInput).
    """
    if message.turn_reply_id is not None:
        raise InvalidInput("Only a user message or a reply can be selected.")
    conversation = message.conversation
    _refuse_if_busy(conversation)
    # Under the row lock: a clear that ran since the message was read took it with it.
    if not Message.objects.filter(pk=message.pk).exists():
        raise NotFound()
    leaf = MessageTree.of(conversation.pk).newest_leaf_under(message.pk)
    Conversation.objects.filter(pk=conversation.pk).update(active_leaf_id=leaf)
    conversation.active_leaf_id = leaf
    return conversation


def _refuse_if_busy(conversation: Conversation) -> None:
    """Lock the conversation's row for the rest of the transaction, then refuse if a turn
    runs. The lock is taken whether or not it is busy: a turn start waits for it, so neither
    can slip in between the check and the caller's writes (PostgreSQL; SQLite's IMMEDIATE
    transactions serialise all writes anyway)."""
    active_turn_id = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation.pk)
        .values_list("active_turn_id", flat=True)
        .first()
    )
    if active_turn_id is not None:
        raise TurnInProgress()


def conversation_title_from_message(*, conversation: Conversation, text: str) -> bool:
    """Give an untitled conversation a title from its first message, on the instance only;
    True when the caller must save `title` (it saves the conversation anyway, under the
    turn's row lock, so one UPDATE carries both)."""
    if conversation.title:
        return False
    conversation.title = _default_title(text)
    return True


@transaction.atomic
def note_create(
    *,
    owner,
    title: str,
    content: str,
    conversation: Conversation | None = None,
    message: Message | None = None,
) -> SavedNote:
    """Save a note for `owner`; a linked conversation must be theirs too."""
    validate_title(title)
    if conversation is not None and conversation.owner_id != owner.pk:
        conversation = None
    if message is not None and message.conversation.owner_id != owner.pk:
        message = None
    return SavedNote.objects.create(
        owner=owner, title=title, content=content, conversation=conversation, message=message
    )


@transaction.atomic
def note_update(
    *, note: SavedNote, title: str | None = None, content: str | None = None
) -> SavedNote:
    """Change a note's title or content."""
    fields = []
    if title is not None:
        validate_title(title)
        note.title = title
        fields.append("title")
    if content is not None:
        note.content = content
        fields.append("content")
    if fields:
        note.save(update_fields=[*fields, "updated_at"])
    return note


@transaction.atomic
def note_delete(*, note: SavedNote) -> None:
    """Delete a note."""
    note.delete()
