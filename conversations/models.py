"""The data: conversations, their messages, and saved notes.

History is a normalised table (one row per message), so a conversation can be listed,
searched, exported and summed for usage without decoding a blob.
"""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.storage import attachments_storage


class OwnedQuerySet(models.QuerySet):
    """A queryset whose rows belong to a user: ownership is one call, never forgotten."""

    owner_field = "owner"

    def for_user(self, user) -> "OwnedQuerySet":
        """Only the rows this user owns (nothing for an anonymous user)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(**{self.owner_field: user})


class Conversation(models.Model):
    """One chat thread of one user, with its model parameters."""

    class Source(models.TextChoices):
        WEB = "web", _("web")
        API = "api", _("API")
        # Calls to the OpenAI-compatible routes (/v1/chat/completions, Azure's shape).
        V1 = "v1", _("OpenAI-compatible API")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    model = models.CharField(_("model"), max_length=100, blank=True)
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    max_tokens = models.PositiveIntegerField(_("max tokens"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=8, choices=Source.choices, default=Source.WEB, db_index=True
    )
    # The client_id of the send that started it (POST /api/chat/ without a conversation): a
    # retry finds this conversation and its first turn instead of starting another.
    client_id = models.UUIDField(null=True, blank=True, editable=False)
    # Set while a turn runs; a second turn is refused with 409 turn_in_progress.
    active_turn = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The end of the active path: the branch of the message tree that is shown, and that the
    # model sees. Null when the conversation is empty (conversations/tree.py reads a null
    # with messages as "the newest message").
    active_leaf = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("active leaf"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [models.Index(fields=["owner", "-updated_at", "-id"], name="conv_owner_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(temperature__isnull=True) | Q(temperature__gte=0, temperature__lte=2),
                name="conversation_temperature_range",
            ),
            models.UniqueConstraint(
                fields=["owner", "client_id"],
                condition=Q(client_id__isnull=False),
                name="conversation_client_id_unique_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class MessageQuerySet(OwnedQuerySet):
    owner_field = "conversation__owner"


class Message(models.Model):
    """One message of a conversation: a user turn, a reply, a tool call or its result.

    Users' messages and replies form a tree (`parent`); tool calls and their results hang off
    the reply that made them (`turn_reply`). conversations/tree.py reads it.
    """

    class Role(models.TextChoices):
        SYSTEM = "system", _("system")
        USER = "user", _("user")
        ASSISTANT = "assistant", _("assistant")
        TOOL = "tool", _("tool")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        STREAMING = "streaming", _("streaming")
        COMPLETE = "complete", _("complete")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")
        INTERRUPTED = "interrupted", _("interrupted")

    FINISHED = (Status.COMPLETE, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    tool_calls = models.JSONField(null=True, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error_code = models.CharField(max_length=50, blank=True)
    error_text = models.TextField(blank=True)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    client_id = models.UUIDField(null=True, blank=True)
    # An assistant reply points at the user message that asked for it (one turn).
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # The tree: a message follows its parent (null for a first message). A reply's parent is
    # its user message, a user message's the reply it answers; an edit or a regeneration is
    # a sibling (same parent) of the message it replaces, so every version is kept.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        verbose_name=_("parent"),
    )
    # Tool-call and tool-result messages are not nodes of the tree: they belong to the reply
    # of the turn that made them (and go to the model right before it).
    turn_reply = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tool_messages",
        verbose_name=_("reply of the turn"),
    )
    # How many attachments a user message carries (conversations.attachments): readers skip
    # the attachment query for the many messages that have none.
    attachment_count = models.PositiveSmallIntegerField(default=0)
    # Touched while a reply streams; a stale heartbeat means its process died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Not auto_now_add: the turn runner moves a reply after the tool messages it caused.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="msg_history"),
            models.Index(fields=["status"], name="msg_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"

    @property
    def usage(self) -> dict | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return {
            "prompt_tokens": self.prompt_tokens or 0,
            "completion_tokens": self.completion_tokens or 0,
        }

    @property
    def error(self) -> dict | None:
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": self.error_text}


class SavedNote(models.Model):
    """A note a user (or a tool acting for them) saved."""

    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notes"
    )
    title = models.CharField(_("title"), max_length=200)
    content = models.TextField(_("content"))
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("saved note")
        verbose_name_plural = _("saved notes")
        indexes = [models.Index(fields=["owner", "-created_at"], name="note_owner_recent")]

    def __str__(self) -> str:
        return self.title


def attachment_upload_to(instance: "Attachment", filename: str) -> str:
    """A server-generated name under attachments/; only the extension (chosen by our type
    check, never the uploaded name) is kept."""
    extension = PurePath(filename).suffix.lower().lstrip(".")
    return f"attachments/{uuid.uuid4().hex}.{extension}"


class Attachment(models.Model):
    """A file a user attached (or is about to attach) to a message of one conversation.

    Images are stored scaled down and without metadata; documents with the text extracted
    from them once, at upload (conversations/attachments/files.py). Until it is sent with a
    message an attachment can be deleted; once sent, it belongs to the history.
    """

    class Kind(models.TextChoices):
        IMAGE = "image", _("image")
        DOCUMENT = "document", _("document")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # The uploaded file's name, for display and as the heading of its text in the context.
    name = models.CharField(_("name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=100)
    byte_size = models.PositiveIntegerField(_("size in bytes"))
    file = models.FileField(
        _("file"), storage=attachments_storage, upload_to=attachment_upload_to, max_length=200
    )
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    # A document's text, in `units` parts (PDF pages joined by form feeds; other documents'
    # paragraphs or lines joined by newlines): the context cuts it between two parts.
    text = models.TextField(_("extracted text"), blank=True)
    units = models.PositiveIntegerField(_("parts of the text"), default=0)
    pages = models.PositiveIntegerField(_("pages"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [models.Index(fields=["conversation", "created_at"], name="attachment_conv")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["image", "document"]), name="attachment_kind"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_file_url(self) -> str:
        """Our own owner-only file URL."""
        return reverse("attachment-file", kwargs={"pk": self.pk})


class MessageAttachment(models.Model):
    """An attachment sent with a message, in the order the sender gave, and how much of a
    document's text went to the model with it (decided once, when the message was sent, by
    the context budget)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachment_links")
    attachment = models.ForeignKey(
        Attachment, on_delete=models.CASCADE, related_name="message_links"
    )
    position = models.PositiveSmallIntegerField(default=0)
    # How many of the document's `units` the model reads; null: all of them.
    included_units = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("attachment of a message")
        verbose_name_plural = _("attachments of messages")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "attachment"], name="message_attachment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.attachment_id}"
