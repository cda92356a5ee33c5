"""How messages look on the chat page: bubbles, compact tool calls, translated statuses.

The page, the message-list fragment and the JavaScript catalogue all take their labels from
here, so a reply reads the same whether it was rendered by the server or finished live.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from conversations.attachments.services import load_links, message_attachments_json
from conversations.models import Message
from conversations.tree import position_of

# Status labels shown on a bubble; a complete message shows none.
STATUS_LABELS: dict[str, Promise] = {
    Message.Status.PENDING: _("Writing…"),
    Message.Status.STREAMING: _("Writing…"),
    Message.Status.FAILED: _("Failed"),
    Message.Status.CANCELLED: _("Stopped"),
    Message.Status.INTERRUPTED: _("Interrupted"),
}

# What each machine code of API.md means to a person reading the chat.
ERROR_DESCRIPTIONS: dict[str, Promise] = {
    "invalid": _("The message could not be sent: it is empty or too long."),
    "not_found": _("This conversation no longer exists."),
    "turn_in_progress": _("A reply is already being written in this conversation."),
    "content_filtered": _("The provider's content filter blocked this request or reply."),
    "throttled": _("Too many requests. Wait a moment and try again."),
    "upstream_rate_limited": _("The model provider is rate-limiting requests. Try again later."),
    "upstream_error": _("The model provider returned an error."),
    "llm_not_configured": _("No language model is configured on the server."),
    "upstream_unavailable": _("The model provider could not be reached."),
    "upstream_timeout": _("The model provider did not answer in time."),
    "interrupted": _("The server stopped while this reply was being written."),
    "vision_unsupported": _("This model cannot read images. Choose another model."),
    "attachment_too_large": _("The file is too large to attach."),
    "attachment_type_unsupported": _("This kind of file cannot be attached."),
    "attachment_unreadable": _("The file could not be read."),
    "too_many_attachments": _("Too many files are attached to this message."),
    "attachment_in_use": _("The file was sent with a message and stays with it."),
    "network": _("The connection to the server was lost."),
}
GENERIC_ERROR = _("Something went wrong.")

# The marker before the first message the model still sees in full (Message.context_start).
CONTEXT_SUMMARIZED = _("Earlier messages are summarised")
CONTEXT_NOT_SENT = _("Earlier messages are not sent to the model")

_SUMMARY_CHARS = 140
_SUMMARY_FIELDS = 4


def error_description(code: str, text: str = "") -> str:
    """A translated sentence for an error code (the server's own text when the code is new)."""
    known = ERROR_DESCRIPTIONS.get(code)
    if known is not None:
        return str(known)
    return text or str(GENERIC_ERROR)


def tool_result_summary(result: Any) -> str:
    """A one-line summary of a tool's result: a few scalar fields, truncated.

    static/kaiwa/js/messages.js mirrors this for tool calls that arrive live.
    """
    if isinstance(result, dict):
        if "error" in result:
            text = f"error: {_scalar(result['error'])}"
        else:
            parts = [
                f"{key}: {_scalar(value)}"
                for key, value in result.items()
                if isinstance(value, str | int | float | bool) or value is None
            ]
            text = ", ".join(parts[:_SUMMARY_FIELDS])
    elif isinstance(result, list):
        text = f"[{len(result)}]"
    else:
        text = _scalar(result)
    if len(text) > _SUMMARY_CHARS:
        text = text[: _SUMMARY_CHARS - 1] + "…"
    return text


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class ToolCallItem:
    name: str
    summary: str
    ok: bool = True


@dataclass
class MessageItem:
    """One bubble of the message list."""

    id: str
    # "user", "assistant", "tools" (a compact row of tool calls) or "context" (where the
    # model's view of the history begins; `content` says what it gets of the rest)
    role: str
    status: str
    content: str = ""
    error_code: str = ""
    error_text: str = ""
    client_id: str = ""
    tool_calls: list[ToolCallItem] = field(default_factory=list)
    # Its place in the message tree: the versions (siblings) of a message share a parent;
    # the page shows ‹ sibling_index+1 / sibling_count › where there are several.
    parent_id: str = ""
    sibling_index: int = 0
    sibling_count: int = 1
    # A user message's files: dicts of conversations.attachments.services.attachment_json
    # ({id, kind, name, size, content_type, url, pages, included_note}), in the order sent.
    attachments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_versions(self) -> bool:
        return self.sibling_count > 1

    @property
    def status_label(self) -> str:
        label = STATUS_LABELS.get(self.status)
        return str(label) if label else ""

    @property
    def running(self) -> bool:
        return self.status in (Message.Status.PENDING, Message.Status.STREAMING)

    @property
    def retryable(self) -> bool:
        return self.status in (Message.Status.FAILED, Message.Status.INTERRUPTED)

    @property
    def error_description(self) -> str:
        if not self.error_code and not self.retryable:
            return ""
        return error_description(self.error_code, self.error_text)


def message_items(messages: Iterable[Message]) -> list[MessageItem]:
    """The bubbles for a conversation's history (its active path: conversations.tree), tool
    rounds folded into compact rows."""
    messages = list(messages)
    load_links(messages)  # one query, only when some message carries attachments
    results = {m.tool_call_id: m for m in messages if m.role == Message.Role.TOOL}
    used: set[str] = set()
    items: list[MessageItem] = []
    for message in messages:
        if message.role == Message.Role.SYSTEM:
            continue
        if message.role == Message.Role.TOOL:
            if message.tool_call_id not in used:  # a result without its call
                items.append(_tools_item(message, [_tool_call_item("", message)]))
            continue
        if message.role == Message.Role.ASSISTANT and message.tool_calls:
            if message.content:
                items.append(_bubble(message))
            calls = []
            for call in message.tool_calls:
                call_id = str(call.get("id", ""))
                used.add(call_id)
                name = str((call.get("function") or {}).get("name", ""))
                calls.append(_tool_call_item(name, results.get(call_id)))
            items.append(_tools_item(message, calls))
            continue
        items.append(_bubble(message))
    return _with_context_marker(items, messages)


def _with_context_marker(items: list[MessageItem], messages: list[Message]) -> list[MessageItem]:
    """`items` with a marker before the first message the newest finished reply's model
    call saw in full, when it did not see the whole history."""
    reply = next(
        (
            m
            for m in reversed(messages)
            if m.role == Message.Role.ASSISTANT
            and m.turn_reply_id is None
            and m.status in Message.FINISHED
        ),
        None,
    )
    if reply is None or reply.context_start_id is None:
        return items
    start = str(reply.context_start_id)
    for index, item in enumerate(items):
        if item.id == start:
            label = CONTEXT_SUMMARIZED if reply.context_summarized else CONTEXT_NOT_SENT
            marker = MessageItem(
                id="", role="context", status=Message.Status.COMPLETE, content=str(label)
            )
            return [*items[:index], marker, *items[index:]]
    return items


def _bubble(message: Message) -> MessageItem:
    position = position_of(message)
    return MessageItem(
        id=str(message.pk),
        role=message.role,
        status=message.status,
        content=message.content,
        error_code=message.error_code,
        error_text=message.error_text,
        client_id=str(message.client_id) if message.client_id else "",
        parent_id=str(message.parent_id) if message.parent_id else "",
        sibling_index=position.index,
        sibling_count=position.count,
        attachments=message_attachments_json(message),
    )


def _tools_item(message: Message, calls: list[ToolCallItem]) -> MessageItem:
    return MessageItem(
        id=str(message.pk), role="tools", status=Message.Status.COMPLETE, tool_calls=calls
    )


def _tool_call_item(name: str, result_message: Message | None) -> ToolCallItem:
    if result_message is None:
        return ToolCallItem(name=name, summary="", ok=True)
    try:
        result = json.loads(result_message.content)
    except ValueError:
        result = result_message.content
    return ToolCallItem(
        name=name or str(_("tool")),
        summary=tool_result_summary(result),
        ok=result_message.status != Message.Status.FAILED,
    )


def js_catalog() -> dict[str, str]:
    """Translated strings for the page scripts (rendered with json_script, never executed)."""
    strings: dict[str, Any] = {
        "status.sending": _("Sending…"),
        "author.user": _("You"),
        "author.assistant": _("Kaiwa"),
        "untitled": _("New conversation"),
        "retry": _("Retry"),
        "rename": _("Rename"),
        "delete": _("Delete"),
        "save": _("Save"),
        "cancel": _("Cancel"),
        "edit": _("Edit"),
        "tool": _("tool"),
        "connection.connecting": _("Connecting…"),
        "connection.reconnecting": _("Connection lost. Reconnecting…"),
        "connection.offline": _("Offline. Reconnecting when the network returns…"),
        "connection.gone": _("This conversation is no longer available."),
        "busy": _("A reply is being written. Stop it or wait until it finishes."),
        "search.none": _("No conversations found."),
        "conversation.confirmDelete": _(
            "Delete the conversation “%(title)s”? This cannot be undone."
        ),
        "conversation.renameLabel": _("New title"),
        "settings.saved": _("Settings saved."),
        "notes.confirmDelete": _("Delete the note “%(title)s”?"),
        "notes.saved": _("Note saved."),
        "notes.empty": _("No notes yet."),
        "images.generating": _("Generating…"),
        "images.empty": _("No images yet."),
        "images.created": _("Image generated."),
        "images.started": _("Generating in the background; you may leave this page."),
        "images.pending": _("Waiting to start…"),
        "images.running": _("Generating… %(elapsed)s s (usually about %(usual)s s)"),
        "images.failed": _("Not generated: %(reason)s"),
        "tokens.confirmRevoke": _(
            "Revoke the token “%(name)s”? Programs that use it will stop working."
        ),
        "tokens.copied": _("Copied."),
        "tokens.never": _("never"),
        "tokens.unnamed": _("(unnamed)"),
        "tokens.empty": _("No tokens yet."),
        "copy": _("Copy"),
        "copy.done": _("Copied."),
        "copy.doneShort": _("Copied"),
        "copy.failed": _("Could not copy. Select the text and press Ctrl+C."),
        "conversation.confirmClear": _(
            "Clear this conversation? All its messages, every version included, are deleted."
        ),
        "conversation.cleared": _("The conversation was cleared."),
        "attachments.bytes": _("%(size)s bytes"),
        "attachments.remove": _("Remove %(name)s"),
        "attachments.failed": _("%(name)s could not be attached: %(reason)s"),
        "attachments.wait": _("Wait until the files have been uploaded."),
        "attachments.tooLarge": _("it is larger than %(limit)s."),
        "error.generic": GENERIC_ERROR,
        "context.summarized": CONTEXT_SUMMARIZED,
        "context.notSent": CONTEXT_NOT_SENT,
    }
    strings |= {f"status.{key}": label for key, label in STATUS_LABELS.items()}
    strings |= {f"error.{code}": text for code, text in ERROR_DESCRIPTIONS.items()}
    return {key: str(value) for key, value in strings.items()}
