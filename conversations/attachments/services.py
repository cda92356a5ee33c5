"""Writes and reads of attachments. Keyword-only, typed; the file rules are files.py's."""

from collections.abc import Iterable, Sequence
from uuid import UUID

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from conversations.attachments.files import inspect_upload
from conversations.errors import (
    AttachmentInUse,
    AttachmentTooLarge,
    InvalidInput,
    NotFound,
    TooManyAttachments,
)
from conversations.models import Attachment, Conversation, Message, MessageAttachment
from conversations.validation import has_lone_surrogate

NAME_MAX_CHARS = 255


def too_large() -> AttachmentTooLarge:
    limit = int(settings.ATTACHMENT_MAX_BYTES)
    return AttachmentTooLarge(
        f"The file is larger than the limit of {limit} bytes (ATTACHMENT_MAX_BYTES); "
        "it was not stored."
    )


def attachment_create(*, user, conversation: Conversation, upload: UploadedFile) -> Attachment:
    """Check, prepare and store one upload for `user` in one of their conversations.

    Refused (nothing stored): over ATTACHMENT_MAX_BYTES, a type not accepted by its bytes,
    a file that cannot be read (conversations/attachments/files.py)."""
    if upload.size is not None and upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise too_large()
    data = upload.read(settings.ATTACHMENT_MAX_BYTES + 1)
    return attachment_store(user=user, conversation=conversation, data=data, name=upload.name)


def attachment_store(*, user, conversation: Conversation, data: bytes, name: str) -> Attachment:
    """attachment_create for bytes at hand."""
    if conversation.owner_id != user.pk:
        raise NotFound()
    attachment = attachment_prepare(user=user, data=data, name=name)
    attachment.conversation = conversation
    try:
        with transaction.atomic():
            attachment.save()
    except BaseException:
        attachment_discard(attachment=attachment)
        raise
    return attachment


def attachment_prepare(*, user, data: bytes, name: str) -> Attachment:
    """Check and prepare `data` and write its file, outside any transaction (decoding an
    image takes a while): the returned row is not saved and has no conversation yet. The
    caller sets its conversation and saves it in its own transaction, or, if that never
    commits, calls attachment_discard. Refusals as attachment_create's."""
    if len(data) > settings.ATTACHMENT_MAX_BYTES:
        raise too_large()
    name = _display_name(name or "")
    inspected = inspect_upload(data=data, name=name)
    attachment = Attachment(
        owner=user,
        kind=inspected.kind,
        name=name,
        content_type=inspected.content_type,
        byte_size=len(inspected.data),
        width=inspected.width,
        height=inspected.height,
        text=inspected.text,
        units=inspected.units,
        pages=inspected.pages,
    )
    # upload_to replaces the name; only the extension (from the type check) is kept.
    attachment.file.save(
        f"attachment.{inspected.extension}", ContentFile(inspected.data), save=False
    )
    return attachment


def attachment_discard(*, attachment: Attachment) -> None:
    """Delete the file of a prepared attachment whose row was never committed."""
    attachment.file.delete(save=False)


def _display_name(name: str) -> str:
    # Only the last part of a path some browsers send, without characters we cannot store.
    name = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
    if has_lone_surrogate(name):
        name = ""
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:NAME_MAX_CHARS] or "attachment"


@transaction.atomic
def attachment_delete(*, attachment: Attachment) -> None:
    """Delete an attachment that no message carries yet (its file goes once committed)."""
    attachment = Attachment.objects.select_for_update().get(pk=attachment.pk)
    if attachment.message_links.exists():
        raise AttachmentInUse()
    attachment.delete()


def attachments_for_send(
    *, user, conversation: Conversation, attachment_ids: Sequence[UUID]
) -> list[Attachment]:
    """The attachments a send names, in its order: each must be the user's and belong to
    this conversation (NotFound otherwise, as for any object not theirs); at most
    ATTACHMENT_MAX_PER_MESSAGE. Runs inside the turn's transaction."""
    unique_ids = list(dict.fromkeys(attachment_ids))
    if len(unique_ids) > settings.ATTACHMENT_MAX_PER_MESSAGE:
        raise TooManyAttachments(
            f"A message may carry at most {settings.ATTACHMENT_MAX_PER_MESSAGE} attachments "
            "(ATTACHMENT_MAX_PER_MESSAGE)."
        )
    if not unique_ids:
        return []
    # Locked for the caller's transaction: a concurrent delete waits, or went first (404).
    rows = Attachment.objects.for_user(user).filter(conversation=conversation, pk__in=unique_ids)
    found = {attachment.pk: attachment for attachment in rows.select_for_update()}
    if len(found) != len(unique_ids):
        raise NotFound("No such attachment in this conversation.")
    return [found[pk] for pk in unique_ids]


def parse_attachment_ids(value: object) -> list[UUID]:
    """`attachments` of a WebSocket command: a list of UUIDs (InvalidInput otherwise)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("'attachments' must be a list of attachment ids.")
    try:
        return [UUID(item) for item in value]
    except ValueError:
        raise InvalidInput("'attachments' must be a list of attachment ids.") from None


def attachments_link(
    *,
    message: Message,
    attachments: Sequence[Attachment],
    included_units: dict[UUID, int | None] | None = None,
) -> list[MessageAttachment]:
    """Record that `message` carries `attachments` (in the caller's transaction); the links
    are also kept on the instance, so serialising the message reads nothing more."""
    included_units = included_units or {}
    links = [
        MessageAttachment(
            message=message,
            attachment=attachment,
            position=position,
            included_units=included_units.get(attachment.pk),
        )
        for position, attachment in enumerate(attachments)
    ]
    if links:
        MessageAttachment.objects.bulk_create(links)
    # The caller stores the message (or has stored it) with this count.
    message.attachment_count = len(links)
    remember_links(message, links)
    return links


def remember_links(message: Message, links: list[MessageAttachment]) -> None:
    """Keep a message's links on the instance, as prefetch_related would."""
    message.attachment_link_list = links


def links_of(message: Message) -> list[MessageAttachment]:
    """A message's attachment links, in order: from the instance when they were kept
    (remember_links, load_links), else one query (only for a message that has some)."""
    remembered = message.__dict__.get("attachment_link_list")
    if remembered is not None:
        return remembered
    if not message.attachment_count:
        return []
    return list(message.attachment_links.select_related("attachment"))


def load_links(messages: Iterable[Message]) -> None:
    """Read the attachment links of these messages in one query, and keep them on each
    (links_of then asks nothing more); no query when none of them carries any."""
    carriers = [
        m for m in messages if m.attachment_count and "attachment_link_list" not in m.__dict__
    ]
    if not carriers:
        return
    by_message: dict[UUID, list[MessageAttachment]] = {m.pk: [] for m in carriers}
    links = MessageAttachment.objects.filter(message__in=carriers).select_related("attachment")
    for link in links:
        by_message[link.message_id].append(link)
    for message in carriers:
        remember_links(message, by_message[message.pk])


def included_note(link: MessageAttachment, *, language: str | None = None) -> str | None:
    """What part of a document the model read with this message, e.g. "pages 1–12 of 40",
    in the active language (or `language`); None when it read all of it (and for images)."""
    attachment = link.attachment
    total = attachment.units
    included = link.included_units
    if attachment.kind != Attachment.Kind.DOCUMENT or included is None or included >= total:
        return None
    with translation.override(language or translation.get_language()):
        unit = _unit_of(attachment)
        if included == 0:
            return _("none of the %(total)d %(unit)s (the context was full)") % {
                "total": total,
                "unit": unit,
            }
        return _("%(unit)s 1–%(last)d of %(total)d") % {
            "unit": unit,
            "last": included,
            "total": total,
        }


def _unit_of(attachment: Attachment) -> str:
    if attachment.pages is not None:
        return _("pages")
    if attachment.content_type.startswith("application/vnd.openxmlformats"):
        return _("paragraphs")
    return _("lines")


def attachment_json(link_or_attachment: MessageAttachment | Attachment) -> dict:
    """An attachment as the API, the WebSocket and the chat page show it."""
    if isinstance(link_or_attachment, MessageAttachment):
        attachment, note = link_or_attachment.attachment, included_note(link_or_attachment)
    else:
        attachment, note = link_or_attachment, None
    return {
        "id": str(attachment.pk),
        "kind": attachment.kind,
        "name": attachment.name,
        "size": attachment.byte_size,
        "content_type": attachment.content_type,
        "url": attachment.get_file_url(),
        "pages": attachment.pages,
        "included_note": note,
    }


def message_attachments_json(message: Message) -> list[dict]:
    """The attachments of a message (see attachment_json), in the order they were sent."""
    return [attachment_json(link) for link in links_of(message)]
