"""What a message, a system prompt, a title and the model parameters must be: one set of
rules for the services (and so the WebSocket path), the REST serializers and the JSON reader.

Each rule raises `InvalidText` (an `InvalidInput`, code `invalid`) with two phrasings of the
same problem: `detail`, a sentence for a service's caller ("The message is empty."), and
`field_message`, DRF's wording for a serializer's field error list ("This field may not be
blank."). Limits come from settings.KAIWA (MAX_MESSAGE_CHARS, MAX_SYSTEM_PROMPT_CHARS) and
LLM_MAX_TOKENS_CAP, read at each call so a changed setting applies; the fixed ones are
constants here.
"""

import re

from django.conf import settings

from conversations.errors import InvalidInput

# A conversation's or a note's title: the length of their `title` columns.
MAX_TITLE_CHARS = 200
# A conversation's temperature, as the OpenAI API accepts it.
MIN_TEMPERATURE = 0
MAX_TEMPERATURE = 2
# A note's text through the API (the save_note tool's schema has its own, smaller limit).
MAX_NOTE_CHARS = 100_000

# After decoding, a valid surrogate pair is one code point; any surrogate left is lone.
_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = "The text contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode."
NUL_CHARACTER = "The text contains a NUL character (\\x00), which cannot be stored."


class InvalidText(InvalidInput):
    """A value that breaks one of these rules; `field_message` is for a serializer."""

    def __init__(self, detail: str, *, field_message: str) -> None:
        super().__init__(detail)
        self.field_message = field_message


def has_lone_surrogate(text: str) -> bool:
    """True when `text` holds a code point that UTF-8 cannot encode (PostgreSQL refuses it,
    and so does every response that would echo it)."""
    return _SURROGATE.search(text) is not None


def _too_long(what: str, limit: int) -> InvalidText:
    return InvalidText(
        f"{what} is longer than {limit} characters.",
        field_message=f"Ensure this field has no more than {limit} characters.",
    )


def _refuse_unstorable(text: str) -> None:
    if has_lone_surrogate(text):
        raise InvalidText(LONE_SURROGATE, field_message=LONE_SURROGATE)
    # PostgreSQL's text cannot hold NUL; DRF's CharField words it the same way.
    if "\x00" in text:
        raise InvalidText(NUL_CHARACTER, field_message="Null characters are not allowed.")


def validate_message_text(content: object, *, may_be_empty: bool = False) -> str:
    """API.md: 1..MAX_MESSAGE_CHARS characters, not only whitespace, valid Unicode, no NUL.

    `may_be_empty`: a message that carries attachments needs no text (empty or only
    whitespace is accepted then)."""
    if not isinstance(content, str):
        raise InvalidText("The message must be text.", field_message="Must be a string.")
    if not content.strip() and not may_be_empty:
        raise InvalidText("The message is empty.", field_message="This field may not be blank.")
    limit = settings.KAIWA["MAX_MESSAGE_CHARS"]
    if len(content) > limit:
        raise _too_long("The message", limit)
    _refuse_unstorable(content)
    return content


def validate_system_prompt(text: str) -> str:
    """At most MAX_SYSTEM_PROMPT_CHARS characters of valid Unicode; empty is allowed."""
    limit = settings.KAIWA["MAX_SYSTEM_PROMPT_CHARS"]
    if len(text) > limit:
        raise _too_long("The system prompt", limit)
    _refuse_unstorable(text)
    return text


def validate_title(text: str) -> str:
    """A conversation's or a note's title: at most MAX_TITLE_CHARS characters."""
    if len(text) > MAX_TITLE_CHARS:
        raise _too_long("The title", MAX_TITLE_CHARS)
    _refuse_unstorable(text)
    return text


def validate_max_tokens(value: int | None) -> int | None:
    """None (the default) or 1..LLM_MAX_TOKENS_CAP."""
    if value is None:
        return None
    cap = settings.LLM_MAX_TOKENS_CAP
    if value > cap:
        raise InvalidText(
            f"max_tokens must be at most {cap}.",
            field_message=f"Ensure this value is less than or equal to {cap}.",
        )
    if value < 1:
        raise InvalidText(
            "max_tokens must be at least 1.",
            field_message="Ensure this value is greater than or equal to 1.",
        )
    return value


def validate_temperature(value: float | None) -> float | None:
    """None (the default) or MIN_TEMPERATURE..MAX_TEMPERATURE."""
    if value is not None and not MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        raise InvalidText(
            f"temperature must be from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}.",
            field_message=f"Ensure this value is from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}.",
        )
    return value
