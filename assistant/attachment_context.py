"""Attachments in the model's context.

- Which models read images (`LLM_VISION_MODELS`; the demo backend reads them all), and the
  refusal of an image for any other model, before anything is stored or called.
- How much of each document a new message sends (`plan_included_units`): the context budget
  decides; a document that does not fit is cut between two pages (PDF) or paragraphs/lines
  (other documents), and the cut is stored with the message so history shows it.
- The content of a stored user message with attachments (`expand_history`): its documents
  as fenced blocks headed by the file name, then its text, then its images as image parts
  (base64 data URLs) — or, for a model that cannot read images, a line naming them.
"""

import base64
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from assistant.backends import get_backend
from assistant.context import MESSAGE_OVERHEAD_TOKENS, estimate_tokens
from conversations.attachments.files import PAGE_SEPARATOR, image_tokens
from conversations.attachments.services import included_note, links_of, load_links
from conversations.errors import VisionUnsupported
from conversations.models import Attachment, Message, MessageAttachment


def model_reads_images(model: str) -> bool:
    """True when `model` (a turn's model id; Azure: a deployment name) matches one of
    LLM_VISION_MODELS, or the backend is the demo (which reads any image)."""
    try:
        if get_backend().info.is_demo:
            return True
    except ImproperlyConfigured:
        return False
    return any(fnmatchcase(model.lower(), pattern.lower()) for pattern in _patterns())


def _patterns() -> list[str]:
    return [pattern.strip() for pattern in settings.LLM_VISION_MODELS if pattern.strip()]


def require_vision(*, model: str, attachments: Iterable[Attachment]) -> None:
    """Refuse images for a model that cannot read them (422 vision_unsupported)."""
    if any(a.kind == Attachment.Kind.IMAGE for a in attachments) and not model_reads_images(model):
        raise VisionUnsupported(
            f"The model {model!r} cannot read images (it is not in LLM_VISION_MODELS); "
            "choose a model that can, or send the message without its images."
        )


def attachment_tokens(attachment: Attachment) -> int:
    """The local estimate of what an attachment costs in the context, whole."""
    if attachment.kind == Attachment.Kind.IMAGE:
        return image_tokens(attachment.width or 1, attachment.height or 1)
    return estimate_tokens(document_block(attachment, None))


def plan_included_units(
    *, attachments: Sequence[Attachment], budget_tokens: int
) -> dict[UUID, int | None]:
    """How many units (pages, paragraphs, lines) of each document fit in `budget_tokens`
    after the images: None where a document fits whole. Documents are served in the order
    sent; one that does not fit is cut at the last unit that does, and the ones after it
    get what is left (possibly nothing)."""
    remaining = budget_tokens - sum(
        attachment_tokens(a) for a in attachments if a.kind == Attachment.Kind.IMAGE
    )
    plan: dict[UUID, int | None] = {}
    for attachment in attachments:
        if attachment.kind != Attachment.Kind.DOCUMENT:
            continue
        whole = attachment_tokens(attachment)
        if whole <= remaining:
            plan[attachment.pk] = None
            remaining -= whole
            continue
        units = _units(attachment)
        # The heading and fences cost about what a block without text costs.
        spent = estimate_tokens(document_block(attachment, 0))
        included = 0
        for unit in units:
            cost = estimate_tokens(unit) + 1
            if spent + cost > remaining:
                break
            spent += cost
            included += 1
        plan[attachment.pk] = included
        remaining = max(remaining - spent, 0)
    return plan


def document_budget(*, system_prompt: str, content: str) -> int:
    """The tokens a new message's documents may use: LLM_CONTEXT_TOKENS less the system
    prompt and the message's own text (older history makes way for them: build_context
    keeps the newest exchange whole)."""
    return (
        settings.LLM_CONTEXT_TOKENS
        - estimate_tokens(system_prompt)
        - estimate_tokens(content)
        - 2 * MESSAGE_OVERHEAD_TOKENS
    )


def _separator(attachment: Attachment) -> str:
    return PAGE_SEPARATOR if attachment.pages is not None else "\n"


def _units(attachment: Attachment) -> list[str]:
    if attachment.pages is not None:
        return attachment.text.split(PAGE_SEPARATOR)
    # As files.py counts them (`units`): a final line break adds no empty line to cut at.
    return attachment.text.splitlines()


def document_block(
    attachment: Attachment, included_units: int | None, note: str | None = None
) -> str:
    """A document as the model reads it: its name (and what part is included), then its
    text in a fence longer than any run of backticks inside it."""
    if included_units is None:
        text = attachment.text
    else:
        text = _separator(attachment).join(_units(attachment)[:included_units])
    text = text.replace(PAGE_SEPARATOR, "\n\n")
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    heading = f"{attachment.name} ({note})" if note else attachment.name
    return f"{heading}\n{fence}\n{text}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for ch in text:
        current = current + 1 if ch == "`" else 0
        longest = max(longest, current)
    return longest


def expand_history(history: Sequence[Message], *, model: str, read_images: bool = True) -> None:
    """Give each user message of `history` that carries attachments its context content
    (`context_content`, which assistant.context.to_chat_message sends instead of the
    text). Reads the links in one query, and only when some message has attachments.
    `read_images=False`: image parts without their data, for a token estimate only."""
    carriers = [m for m in history if m.attachment_count]
    if not carriers:
        return
    load_links(carriers)
    sees = model_reads_images(model)
    for message in carriers:
        message.context_content = message_content(
            message, links_of(message), sees=sees, read_images=read_images
        )


def message_content(
    message: Message, links: Sequence[MessageAttachment], *, sees: bool, read_images: bool = True
) -> str | list[dict[str, Any]]:
    """A user message with its attachments: a string when it has no image the model will
    see, else OpenAI's content parts (text first, when there is any, then the images)."""
    documents = [
        # The model reads the note in English, whatever language the sender's page uses.
        document_block(link.attachment, link.included_units, included_note(link, language="en"))
        for link in links
        if link.attachment.kind == Attachment.Kind.DOCUMENT
    ]
    images = [link.attachment for link in links if link.attachment.kind == Attachment.Kind.IMAGE]
    # A message of attachments alone has no text: no empty piece, and no empty text part
    # (providers refuse one).
    pieces = [*documents, message.content] if message.content else documents
    if images and not sees:
        names = ", ".join(image.name for image in images)
        pieces = [*pieces, f"[images not shown, this model cannot read images: {names}]"]
    text = "\n\n".join(pieces)
    if not images or not sees:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for image in images:
        url = image_data_url(image) if read_images else ""
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def image_data_url(attachment: Attachment) -> str:
    """The stored image as a data URL (what OpenAI's and Azure's chat APIs accept)."""
    with attachment.file.open("rb") as stored:
        data = stored.read()
    return f"data:{attachment.content_type};base64,{base64.b64encode(data).decode('ascii')}"
