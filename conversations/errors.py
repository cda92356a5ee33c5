"""Domain errors: each carries the machine code and HTTP status that API.md gives it.

They are mapped to HTTP in one place (config.api_errors) and to WebSocket/SSE error
events by the streaming code, so every interface reports the same code.
"""


class DomainError(Exception):
    """A failure the client can act on; `code` is API.md's machine code."""

    code = "error"
    status = 400
    default_detail = "The request could not be completed."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        self.detail = detail or self.default_detail
        self.retry_after = retry_after
        super().__init__(self.detail)


class InvalidInput(DomainError):
    code = "invalid"
    status = 400
    default_detail = "The request is not valid."


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class TurnInProgress(DomainError):
    code = "turn_in_progress"
    status = 409
    default_detail = "A reply is already being generated in this conversation."


class AttachmentTooLarge(DomainError):
    code = "attachment_too_large"
    status = 413
    default_detail = "The file is larger than the limit (ATTACHMENT_MAX_BYTES)."


class AttachmentTypeUnsupported(DomainError):
    code = "attachment_type_unsupported"
    status = 415
    default_detail = (
        "This kind of file cannot be attached: PNG, JPEG, WebP, GIF (not animated), PDF, "
        "DOCX, plain text, Markdown, CSV and JSON can."
    )


class AttachmentUnreadable(DomainError):
    """A file of a supported type whose content cannot be read (an encrypted or broken PDF,
    a PDF without a text layer, a document with no text)."""

    code = "attachment_unreadable"
    status = 422
    default_detail = "The file could not be read."


class TooManyAttachments(DomainError):
    code = "too_many_attachments"
    status = 400
    default_detail = "The message has more attachments than allowed (ATTACHMENT_MAX_PER_MESSAGE)."


class AttachmentInUse(DomainError):
    code = "attachment_in_use"
    status = 409
    default_detail = "The attachment was sent with a message; it stays with that message."


class VisionUnsupported(DomainError):
    code = "vision_unsupported"
    status = 422
    default_detail = "This model cannot read images (LLM_VISION_MODELS)."
