"""Every relayed call stored as a conversation: the request's messages as the client sent
them, then the reply with its usage, status and latency.

Without `X-Kaiwa-Conversation` a call starts a conversation of its own (source `v1`). With
it, the call's messages are compared with the conversation's active path: those already
there are not stored again, the rest go under the last one that matched (a new branch of
the message tree when the client's history differs), and the reply becomes the active leaf.
Tool calls and their results hang off the reply that follows them, as in any turn
(conversations/tree.py).
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from assistant.limits import quota_reserve
from assistant.openai_compat.request import CompletionRequest, content_text
from assistant.reply_lifecycle import active_reply_id, finish
from conversations.attachments.services import (
    attachment_discard,
    attachment_prepare,
    attachments_link,
)
from conversations.errors import DomainError, NotFound, TurnInProgress
from conversations.models import Attachment, Conversation, Message
from conversations.tree import active_path
from usage.models import UsageKind
from usage.services import usage_record

TITLE_CHARS = 80


@dataclass(frozen=True, slots=True)
class StartedCall:
    conversation_id: UUID
    reply_id: UUID


def call_start(*, user, request: CompletionRequest, conversation_id=None) -> StartedCall:
    """Store the call's messages and a `pending` reply, and reserve its quota, in one
    transaction. NotFound (another user's or no conversation), TurnInProgress, Throttled."""
    if conversation_id is not None:
        if not Conversation.objects.for_user(user).filter(pk=conversation_id).exists():
            raise NotFound("No such conversation.")
        active_reply_id(conversation_id)  # recover a dead turn before judging "busy"
    # Images are decoded and their files written before the transaction (not while the
    # conversation, or SQLite's whole database, is locked), for the messages that look new
    # now; inside, the locked comparison decides which are stored. Files whose rows are not
    # committed (a rollback, a guess that was wrong) are deleted after it.
    images = _ImagesAtHand(user=user, messages=request.messages)
    try:
        images.prepare(_probably_new(conversation_id, request.messages))
        reply = _start_in_transaction(
            user=user, request=request, conversation_id=conversation_id, images=images
        )
    except BaseException:
        images.discard(committed=False)
        raise
    images.discard(committed=True)
    return StartedCall(conversation_id=reply.conversation_id, reply_id=reply.pk)


def _start_in_transaction(
    *, user, request: CompletionRequest, conversation_id, images: "_ImagesAtHand"
) -> Message:
    with transaction.atomic():
        if conversation_id is None:
            conversation = Conversation.objects.create(
                owner=user,
                source=Conversation.Source.V1,
                model=request.model,
                title=_title(request.messages),
            )
            parent, new = None, request.messages
        else:
            conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
            if conversation.active_turn_id is not None:
                raise TurnInProgress()
            parent, new = _unseen(active_path(conversation), request.messages)
        now = timezone.now()
        tools: list[Message] = []
        last_user = None
        for offset, wire in enumerate(new):
            message = _message(conversation, wire, created_at=now + timedelta(microseconds=offset))
            if message.tool_call_id or message.tool_calls:
                tools.append(message)  # not a node: it belongs to the reply after it
                message.save()
                continue
            message.parent = parent
            message.save()
            if tools and message.role == Message.Role.ASSISTANT:
                Message.objects.filter(pk__in=[t.pk for t in tools]).update(turn_reply=message)
                tools = []
            parent = message
            if message.role == Message.Role.USER:
                last_user = message
                images.keep(message=message, index=len(request.messages) - len(new) + offset)
        reply = Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status=Message.Status.PENDING,
            model=request.model,
            parent=parent,
            reply_to=last_user,
            created_at=now + timedelta(microseconds=len(new)),
        )
        if tools:
            Message.objects.filter(pk__in=[t.pk for t in tools]).update(turn_reply=reply)
        Conversation.objects.filter(pk=conversation.pk).update(
            active_turn=reply, active_leaf=reply, updated_at=now
        )
        quota_reserve(user=user, reply_id=reply.pk, tokens=request.reservation_tokens())
    return reply


def call_finish(
    *,
    user,
    call: StartedCall,
    status: str,
    content: str,
    tool_calls: list[dict[str, Any]] | None,
    model: str,
    usage: tuple[int, int] | None,
    estimated_usage: tuple[int, int],
    finish_reason: str = "",
    latency_ms: int,
    error: tuple[str, str] | None = None,
) -> Message:
    """End the reply and charge the call to the ledger (kind `chat`) in one transaction:
    the provider's figures, else the local estimate (`estimated_usage`) when anything was
    sent back or the call was stopped."""
    charged = usage or estimated_usage
    spent = usage is not None or bool(content) or bool(tool_calls) or status == "cancelled"

    def settle() -> None:
        if spent:
            usage_record(
                user=user,
                kind=UsageKind.CHAT,
                model=model,
                prompt_tokens=charged[0],
                completion_tokens=charged[1],
                estimated=usage is None,
            )

    fields: dict[str, Any] = {
        "content": content,
        "tool_calls": tool_calls or None,
        "model": model,
        "finish_reason": finish_reason,
        "latency_ms": latency_ms,
        "prompt_tokens": usage[0] if usage else None,
        "completion_tokens": usage[1] if usage else None,
    }
    if error:
        fields["error_code"], fields["error_text"] = error
    return finish(
        reply_id=call.reply_id,
        conversation_id=call.conversation_id,
        status=status,
        stored_fields=fields,
        settle=settle,
    )


def call_abandon(*, call: StartedCall) -> Message:
    """End a call that never reached the provider (its client went away first) `cancelled`:
    nothing is charged, the reservation is released and the conversation freed."""
    return finish(
        reply_id=call.reply_id,
        conversation_id=call.conversation_id,
        status=Message.Status.CANCELLED,
        stored_fields={"finish_reason": "cancelled"},
        settle=lambda: None,
    )


def _message(conversation: Conversation, wire: dict[str, Any], *, created_at) -> Message:
    tool_calls = wire.get("tool_calls") if wire.get("role") == "assistant" else None
    return Message(
        conversation=conversation,
        role=Message.Role.SYSTEM if wire["role"] == "developer" else wire["role"],
        content=content_text(wire.get("content")),
        tool_calls=tool_calls or None,
        tool_call_id=str(wire.get("tool_call_id") or "")[:100],
        created_at=created_at,
    )


def _probably_new(conversation_id, messages: list[dict[str, Any]]) -> range:
    """The indexes of the messages that are new to the conversation as it is now (read
    without a lock: the transaction compares again)."""
    if conversation_id is None:
        return range(len(messages))
    conversation = Conversation.objects.get(pk=conversation_id)
    _, new = _unseen(active_path(conversation), messages)
    return range(len(messages) - len(new), len(messages))


class _ImagesAtHand:
    """A user message's image parts given as data URLs, kept as its attachments (scaled and
    stripped like any attachment), so history, exports and the admin show them. An https
    URL is the provider's to fetch and is not downloaded; an image Kaiwa cannot read is
    kept only as the message's `[image_url]` placeholder."""

    def __init__(self, *, user, messages: list[dict[str, Any]]) -> None:
        self.user = user
        self.messages = messages
        self.prepared: dict[int, list[Attachment]] = {}
        self.kept: list[Attachment] = []

    def prepare(self, indexes: range) -> None:
        for index in indexes:
            if self.messages[index].get("role") == "user":
                self._prepare(index)

    def _prepare(self, index: int) -> list[Attachment]:
        content = self.messages[index].get("content")
        images = self.prepared.setdefault(index, [])
        for part in content if isinstance(content, list) else []:
            data = _data_url_bytes(part)
            if data is None:
                continue
            try:
                name = f"image-{len(images) + 1}"
                images.append(attachment_prepare(user=self.user, data=data, name=name))
            except DomainError:
                continue
        return images

    def keep(self, *, message: Message, index: int) -> None:
        """Save and link the images of request message `index` (inside the transaction);
        a message the guess before it missed has its images prepared now."""
        images = self.prepared.pop(index, None)
        if images is None:
            images = self._prepare(index)
            self.prepared.pop(index)
        self.kept.extend(images)
        for attachment in images:
            attachment.conversation = message.conversation
            attachment.save()
        if images:
            attachments_link(message=message, attachments=images)
            Message.objects.filter(pk=message.pk).update(attachment_count=len(images))

    def discard(self, *, committed: bool) -> None:
        """Delete the files whose rows were not committed."""
        unused = [a for images in self.prepared.values() for a in images]
        for attachment in unused if committed else unused + self.kept:
            attachment_discard(attachment=attachment)


def _data_url_bytes(part: Any) -> bytes | None:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    url = (part.get("image_url") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    header, _, encoded = url.partition(",")
    if not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _same(stored: Message, wire: dict[str, Any]) -> bool:
    role = "system" if wire.get("role") == "developer" else wire.get("role")
    return (
        stored.role == role
        and stored.content == content_text(wire.get("content"))
        and stored.tool_call_id == str(wire.get("tool_call_id") or "")[:100]
    )


def _unseen(path: list[Message], messages: list[dict[str, Any]]):
    """The last node of `path` that the client's history repeats, and the messages after it."""
    parent = None
    matched = 0
    for stored, wire in zip(path, messages, strict=False):
        if not _same(stored, wire):
            break
        matched += 1
        if stored.turn_reply_id is None:
            parent = stored
    if matched and path[matched - 1].turn_reply_id is not None:
        # The history diverges inside a tool round: start again after its last node.
        matched = next((i + 1 for i in range(matched - 1, -1, -1) if path[i] is parent), 0)
    return parent, messages[matched:]


def _title(messages: list[dict[str, Any]]) -> str:
    first = next((m for m in messages if m.get("role") == "user"), None)
    text = " ".join(content_text(first.get("content")).split()) if first else ""
    return text[:TITLE_CHARS]
