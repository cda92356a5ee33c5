"""Reading the JSON that clients send: one reader for REST bodies and WebSocket frames.

Two things Python's `json` accepts must still be refused as `invalid`, before anything is
stored: nesting deep enough that the parser raises RecursionError (a 500 otherwise), and a
lone UTF-16 surrogate written as an escape (`"\\ud800"`), which `json` turns into a str
that cannot be encoded as UTF-8 — PostgreSQL refuses it, and so does every response that
would echo it.
"""

import json
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from conversations.validation import LONE_SURROGATE, has_lone_surrogate

TOO_DEEP = "The JSON is nested too deeply."


class UnreadableJSON(ValueError):
    """JSON that is malformed, nested too deeply, or holds text that is not valid Unicode."""


def loads(raw: str | bytes) -> Any:
    """`json.loads`, raising UnreadableJSON for everything a client must be told is invalid."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise UnreadableJSON(TOO_DEEP) from None
    except ValueError as exc:
        raise UnreadableJSON("The frame is not valid JSON.") from exc
    _refuse_lone_surrogates(data)
    return data


def _refuse_lone_surrogates(data: Any) -> None:
    # Iterative: the data is as deep as the parser allowed, which is deeper than a recursive
    # walk may go on a thread's smaller stack.
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                raise UnreadableJSON(LONE_SURROGATE)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (DEFAULT_PARSER_CLASSES) with the two refusals above, as ParseError
    (400, code `invalid` through config.api_errors) on every REST endpoint."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {TOO_DEEP}") from None
        try:
            _refuse_lone_surrogates(data)
        except UnreadableJSON as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
