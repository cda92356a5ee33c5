"""Staff review of history: conversations with their messages, searchable and filterable."""

from django import forms
from django.contrib import admin
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext_lazy as _

from conversations import allowed_models
from conversations.attachments.services import included_note
from conversations.models import Attachment, Conversation, Message, MessageAttachment, SavedNote


class MessageInline(admin.TabularInline):
    """The conversation's messages, every version: each with the message it follows and its
    place among its versions (a tool message with the reply it belongs to)."""

    model = Message
    fields = [
        "created_at",
        "parent",
        "version",
        "turn_reply",
        "role",
        "status",
        "content",
        "tool_calls",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "finish_reason",
        "latency_ms",
        "error_code",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        # The versions of a message are the messages with its parent, in creation order; a
        # tool message's partition is its reply's tool messages (shown as no version).
        siblings = {
            "partition_by": [F("conversation"), F("parent"), F("turn_reply")],
        }
        return (
            super()
            .get_queryset(request)
            .select_related("parent", "turn_reply")
            .annotate(
                _version=Window(RowNumber(), order_by=[F("created_at"), F("id")], **siblings),
                _versions=Window(Count("id"), **siblings),
            )
        )

    @admin.display(description=_("version"))
    def version(self, obj):
        if obj.turn_reply_id is not None:
            return "—"
        return f"{obj._version} / {obj._versions}"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttachmentInline(ReadOnlyInline):
    """The conversation's attachments (sent or waiting to be sent), read-only."""

    model = Attachment
    fields = ["name", "kind", "content_type", "byte_size", "pages", "created_at"]
    readonly_fields = fields
    show_change_link = True
    ordering = ["created_at", "id"]


class MessageAttachmentInline(ReadOnlyInline):
    """The files a message carries, and how much of each document the model read."""

    model = MessageAttachment
    fields = ["position", "attachment", "kind", "included"]
    readonly_fields = fields
    ordering = ["position", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attachment")

    @admin.display(description=_("kind"))
    def kind(self, obj):
        return obj.attachment.get_kind_display()

    @admin.display(description=_("read by the model"))
    def included(self, obj):
        return included_note(obj) or _("all")


class MessageStatusFilter(admin.SimpleListFilter):
    """Conversations that contain a message with this status (e.g. failed replies)."""

    title = _("message status")
    parameter_name = "message_status"

    def lookups(self, request, model_admin):
        return Message.Status.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(messages__status=self.value()).distinct()
        return queryset


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "title_or_id",
        "owner",
        "source",
        "model",
        "message_count",
        "total_tokens",
        "updated_at",
    ]
    list_select_related = ["owner"]
    list_filter = [
        ("owner", admin.RelatedOnlyFieldListFilter),
        "created_at",
        "source",
        MessageStatusFilter,
        "model",
    ]
    search_fields = ["title", "owner__username", "messages__content"]
    search_help_text = _("Searches titles, owners and message text.")
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "owner",
        "created_at",
        "updated_at",
        "active_turn",
        "active_leaf",
        "token_totals",
    ]
    fields = [
        "id",
        "owner",
        "title",
        "system_prompt",
        "model",
        "temperature",
        "max_tokens",
        "active_turn",
        "active_leaf",
        "token_totals",
        "created_at",
        "updated_at",
    ]
    inlines = [MessageInline, AttachmentInline]
    list_per_page = 100
    show_full_result_count = False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "model":
            # Staff choose from LLM_MODELS too; a model since removed is not offered.
            choices = [("", _("The default model"))] + [
                (model.id, model.label) for model in allowed_models.allowed_models()
            ]
            return forms.ChoiceField(label=db_field.verbose_name, choices=choices, required=False)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        # Counts and sums are annotations, so a page of 100 is a constant number of queries.
        return (
            super()
            .get_queryset(request)
            .annotate(
                _message_count=Count("messages", distinct=True),
                _prompt_tokens=Sum("messages__prompt_tokens"),
                _completion_tokens=Sum("messages__completion_tokens"),
            )
        )

    @admin.display(description=_("title"), ordering="title")
    def title_or_id(self, obj):
        return obj.title or str(obj.id)

    @admin.display(description=_("messages"), ordering="_message_count")
    def message_count(self, obj):
        return obj._message_count

    @admin.display(description=_("tokens"))
    def total_tokens(self, obj):
        return (obj._prompt_tokens or 0) + (obj._completion_tokens or 0)

    @admin.display(description=_("token totals"))
    def token_totals(self, obj):
        return _("%(prompt)s prompt + %(completion)s completion") % {
            "prompt": obj._prompt_tokens or 0,
            "completion": obj._completion_tokens or 0,
        }


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "conversation",
        "role",
        "status",
        "model",
        "short_content",
        "error_code",
    ]
    list_select_related = ["conversation", "conversation__owner"]
    list_filter = ["role", "status", "model", "created_at"]
    search_fields = ["content", "conversation__title"]
    list_per_page = 100
    show_full_result_count = False
    inlines = [MessageAttachmentInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Message._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("content"))
    def short_content(self, obj):
        return obj.content[:80]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """Attachments, read-only: what was sent, by whom, in which conversation. The files are
    served to their owners only; staff see the stored name and the extracted text."""

    list_display = [
        "name",
        "kind",
        "content_type",
        "byte_size",
        "owner",
        "conversation",
        "sent",
        "created_at",
    ]
    list_select_related = ["owner", "conversation"]
    list_filter = [
        "kind",
        "content_type",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["name", "owner__username", "conversation__title"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "id",
        "owner",
        "conversation",
        "name",
        "kind",
        "content_type",
        "byte_size",
        "width",
        "height",
        "pages",
        "units",
        "stored_as",
        "text_preview",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_sent=Count("message_links"))

    @admin.display(description=_("sent"), boolean=True, ordering="_sent")
    def sent(self, obj):
        return obj._sent > 0

    @admin.display(description=_("stored as"))
    def stored_as(self, obj):
        # The name only: the file is served to its owner alone, never by a storage URL.
        return obj.file.name

    @admin.display(description=_("extracted text"))
    def text_preview(self, obj):
        return obj.text[:2000] + ("…" if len(obj.text) > 2000 else "")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SavedNote)
class SavedNoteAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "conversation", "created_at"]
    list_select_related = ["owner", "conversation"]
    list_filter = [("owner", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["title", "content"]
    raw_id_fields = ["conversation", "message"]
    list_per_page = 100
