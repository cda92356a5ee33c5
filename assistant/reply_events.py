"""The events of a reply, and their two wire formats (API.md section 4 SSE, section 5 WebSocket).

The runner emits these, the live log stores them (as `as_log`), the database replay rebuilds
them from a stored message, and the transports only format them: `sse_frame` and `ws_frame`.
Every event has its reply's `message_id` and its sequence number `seq` (1, 2, … within the
reply). A type this module does not know is an error (`UnknownEvent`), never a `done`.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


class UnknownEvent(ValueError):
    """A logged or broadcast event of a type this module does not define."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyEvent:
    type: ClassVar[str]
    terminal: ClassVar[bool] = False
    message_id: str
    seq: int = 0

    def numbered(self, seq: int) -> "ReplyEvent":
        """A copy with sequence number `seq`. Done for every event a reply publishes: copies
        the fields directly (frozen, slotted, so object.__setattr__, as the dataclass's own
        __init__ does) instead of dataclasses.replace, which rebuilds the keyword arguments
        and runs __init__ at several times the cost."""
        cls = type(self)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls) if f.name != "seq")
        copy = object.__new__(cls)
        for name in names:
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "seq", seq)
        return copy

    def as_log(self) -> dict[str, Any]:
        """The event as a JSON-ready dict (the event log's and the broadcast's form)."""
        return {"type": self.type, **asdict(self)}

    def sse_payload(self) -> dict[str, Any]:
        """API.md section 4: the log form without `seq` (that is the SSE `id:`)."""
        payload = self.as_log()
        del payload["seq"]
        return payload

    def ws_payload(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class Start(ReplyEvent):
    type: ClassVar[str] = "start"
    conversation_id: str
    user_message_id: str | None
    # The reply's parent in the message tree (its user message): where a tab draws the reply,
    # a new version of an earlier one after an edit or a regeneration.
    parent_id: str | None = None

    def ws_payload(self) -> dict[str, Any]:
        return {
            "type": "start",
            "message_id": self.message_id,
            "seq": self.seq,
            "parent_id": self.parent_id,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Delta(ReplyEvent):
    """New text of the reply (`message` on SSE, `delta` on the WebSocket)."""

    type: ClassVar[str] = "message"
    content: str

    def ws_payload(self) -> dict[str, Any]:
        return {
            "type": "delta",
            "message_id": self.message_id,
            "seq": self.seq,
            "content": self.content,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallMade(ReplyEvent):
    type: ClassVar[str] = "tool_call"
    name: str
    arguments: Any
    result: Any

    def ws_payload(self) -> dict[str, Any]:
        return {
            "type": "tool_call",
            "message_id": self.message_id,
            "seq": self.seq,
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Done(ReplyEvent):
    """The reply ended complete or cancelled (a stop)."""

    type: ClassVar[str] = "done"
    terminal: ClassVar[bool] = True
    status: str
    content: str
    html: str
    finish_reason: str
    usage: dict[str, int] | None = field(default=None)
    # Where the model's view of the history began, when it did not see all of it.
    context_start_id: str | None = field(default=None)
    context_summarized: bool = field(default=False)

    def ws_payload(self) -> dict[str, Any]:
        payload = {
            "type": "done",
            "message_id": self.message_id,
            "seq": self.seq,
            "status": self.status,
            "content": self.content,
            "html": self.html,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
        }
        if self.context_start_id is not None:
            payload["context_start_id"] = self.context_start_id
            payload["context_summarized"] = self.context_summarized
        return payload

    def sse_payload(self) -> dict[str, Any]:
        # (Not super(): the slots dataclass is a new class that zero-argument super() misses.)
        payload = ReplyEvent.sse_payload(self)
        if self.context_start_id is None:  # the whole history was seen: nothing to say
            del payload["context_start_id"], payload["context_summarized"]
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed(ReplyEvent):
    """The reply ended failed or interrupted (`error` on both transports)."""

    type: ClassVar[str] = "error"
    terminal: ClassVar[bool] = True
    code: str
    error: str

    def ws_payload(self) -> dict[str, Any]:
        return {
            "type": "error",
            "message_id": self.message_id,
            "code": self.code,
            "message": self.error,
        }


# Per event class, its fields but `seq` (ReplyEvent.numbered).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}

_TYPES: dict[str, type[ReplyEvent]] = {
    cls.type: cls for cls in (Start, Delta, ToolCallMade, Done, Failed)
}
_FIELDS = {name: frozenset(f.name for f in fields(cls)) for name, cls in _TYPES.items()}


def from_log(data: dict[str, Any]) -> ReplyEvent:
    """The event an `as_log` dict (from the log or a broadcast, any process) describes."""
    kind = data.get("type")
    cls = _TYPES.get(kind)
    if cls is None:
        raise UnknownEvent(f"unknown reply event type {kind!r}")
    names = _FIELDS[kind]
    return cls(**{k: v for k, v in data.items() if k in names})


def sse_frame(event: ReplyEvent) -> bytes:
    """One SSE event: `id:` is the event's sequence number within its reply."""
    data = json.dumps(event.sse_payload(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\ndata: {data}\n\n".encode()


def ws_frame(event: ReplyEvent) -> dict[str, Any]:
    """The event as a WebSocket JSON frame (API.md section 5)."""
    return event.ws_payload()
