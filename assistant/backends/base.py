"""What every LLM backend offers, in our own types: services never see the `openai` SDK.

A backend is configured like Django's CACHES: settings.LLM_BACKEND holds a dotted path and
OPTIONS; `assistant.backends.get_backend()` builds it once per process with
`from_options()`. Each backend class declares its `Options` (and the environment variable
of each) and its `check()` (assistant/backend_config.py).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

from django.core.checks import CheckMessage

from assistant.backend_config import Options

# Chat messages travel in the OpenAI wire shape ({"role", "content", "tool_calls",
# "tool_call_id"}); every provider we support speaks it, so there is nothing to translate.
ChatMessage = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model asked for; `arguments` is the raw JSON text it produced."""

    id: str
    name: str
    arguments: str

    def as_message_part(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class TextDelta:
    """New reply text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallsRequested:
    """The model finished a round by asking for these tools (arguments fully assembled)."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of every successful stream."""

    finish_reason: str
    usage: Usage | None
    model: str
    retries: int = 0


StreamEvent = TextDelta | ToolCallsRequested | StreamEnd


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole (non-streamed) answer."""

    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: Usage | None
    model: str
    retries: int = 0


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """Per-call parameters; None means the backend's default."""

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None
    # "auto", "none", "required", or {"type": "function", "function": {"name": ...}}
    tool_choice: str | dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class GeneratedImageData:
    """Image bytes as the provider gave them: decoded b64_json, or a URL still to download."""

    b64_bytes: bytes | None
    url: str | None
    revised_prompt: str
    model: str
    usage: Usage | None = None  # token figures, from models that report them (gpt-image)


@dataclass(slots=True)
class BackendInfo:
    provider: Literal["azure", "openai", "demo"]
    default_model: str
    is_demo: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class LLMBackend:
    """Base class. Subclasses implement `stream_chat`, `complete_chat` and `generate_image`.

    Errors: every failure after the SDK's retries is raised as an `assistant.errors.LLMError`
    subclass carrying API.md's code, with a message that never contains a key.
    """

    Options: ClassVar[type[Options]] = Options
    info: BackendInfo

    def __init__(self, options: Options) -> None:
        self.options = options

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Self:
        """The backend for settings.LLM_BACKEND's OPTIONS; ImproperlyConfigured names the
        environment variable at fault."""
        return cls(cls.Options.from_options(options))

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """`manage.py check` messages about this backend's variables. `options` are
        LLM_BACKEND's OPTIONS when this is the configured backend, else None: then only the
        variables it reads that are set are checked, so a typo is caught before switching."""
        return []

    def stream_chat(
        self, *, messages: list[ChatMessage], options: ChatOptions
    ) -> AsyncIterator[StreamEvent]:
        """Stream one model round: TextDelta*, then ToolCallsRequested?, then StreamEnd."""
        raise NotImplementedError

    async def complete_chat(
        self, *, messages: list[ChatMessage], options: ChatOptions
    ) -> Completion:
        """One model round without streaming."""
        raise NotImplementedError

    def relay_stream(self, *, body: dict[str, Any]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Pass a client's Chat Completions request body (with `stream: true`) to the
        provider as it is; yield each streamed chunk as (the text it came as, its dict).
        LLMError on failure; closing the iterator closes the upstream request."""
        raise NotImplementedError

    async def relay_complete(self, *, body: dict[str, Any]) -> dict[str, Any]:
        """Pass a client's Chat Completions request body (no streaming) to the provider;
        the completion object as the provider answered it."""
        raise NotImplementedError

    async def generate_image(self, *, prompt: str, size: str) -> GeneratedImageData:
        """Generate one image."""
        from assistant.errors import LLMNotConfigured

        raise LLMNotConfigured("This backend cannot generate images.")

    async def aclose(self) -> None:
        """Release pooled connections (tests and shutdown)."""
