"""An offline, deterministic backend for development (like Django's console e-mail backend).

It needs no network and no key. It streams a reply labelled as demo output that says how to
configure a real model, and it can exercise every tool: when the newest user message
contains one of the phrases in `DemoBackend.DEMO_TOOL_TRIGGERS` and that tool is offered,
the first round asks for the tool; once the tool's result is in the history it answers with
a short summary of it. A forced `tool_choice` always gets a schema-valid call.
"""

import asyncio
import hashlib
import json
import re
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error

from assistant.backend_config import Options, as_number, option
from assistant.backends.base import (
    BackendInfo,
    ChatMessage,
    ChatOptions,
    Completion,
    GeneratedImageData,
    LLMBackend,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsRequested,
    Usage,
)
from assistant.backends.call_log import CallLog, last_user_text, message_text

DEMO_MODEL = "demo"
LABEL = "[デモ応答 / demo]"

_POSITIVE = tuple(
    "嬉しい うれしい 楽しい 好き 良い 最高 ありがとう 素晴らしい "
    "happy great good love thank excellent wonderful".split()
)
_NEGATIVE = tuple(
    "悲しい 嫌い 悪い 最悪 困 怒 つらい 辛い 不安 sad bad hate terrible angry awful worried".split()
)
_STOPWORDS = frozenset({"the", "and", "for", "with", "that", "this", "please", "you", "are"})
# ASCII words, runs of kanji/katakana: crude but deterministic "keywords".
_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'-]{2,}|[\u4e00-\u9fff\u30a0-\u30ff\u30fc]{2,}")
# Streaming pieces: an ASCII word with its leading space, or one or two other characters.
_TOKEN_RE = re.compile(r"\s*[\x21-\x7e]+|\s*[^\x00-\x7f]{1,2}|\s+|.", re.DOTALL)
_TRIM = " \t\n、。,.:：;；!！?？をとにへは「」\"'"


def split_tokens(text: str) -> list[str]:
    """Split `text` into streamable pieces that concatenate back to exactly `text`."""
    return _TOKEN_RE.findall(text)


@dataclass(frozen=True, kw_only=True)
class DemoOptions(Options):
    token_delay: float = option("DEMO_TOKEN_DELAY", 0.02)  # seconds between tokens


class DemoBackend(LLMBackend):
    """Offline deterministic backend; model "demo"; `token_delay` seconds between tokens."""

    Options = DemoOptions

    # Phrase (matched case-insensitively in the newest user message) -> tool it triggers.
    # The first phrase, in this order, whose tool is offered wins.
    DEMO_TOOL_TRIGGERS: ClassVar[dict[str, str]] = {
        "メモして": "save_note",
        "save a note": "save_note",
        "分析して": "analyze_text",
        "analyze": "analyze_text",
        "画像": "generate_image",
        "draw": "generate_image",
        "検索": "search_web",
        "search": "search_web",
    }

    def __init__(self, options: DemoOptions) -> None:
        super().__init__(options)
        self.token_delay = options.token_delay
        self.info = BackendInfo(provider="demo", default_model=DEMO_MODEL, is_demo=True)

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """DEMO_TOKEN_DELAY is 0 or more; in production the demo backend is an error when it
        was chosen because nothing else was configured, and a warning when asked for."""
        errors: list[CheckMessage] = []
        delay = as_number(getattr(settings, "DEMO_TOKEN_DELAY", 0))
        if delay is None or delay < 0:
            errors.append(
                Error(
                    "DEMO_TOKEN_DELAY must be a number of seconds of 0 or more, not "
                    f"{getattr(settings, 'DEMO_TOKEN_DELAY', None)!r}.",
                    id="kaiwa.E012",
                )
            )
        if options is None or getattr(settings, "ENVIRONMENT", "") != "production":
            return errors
        if getattr(settings, "LLM_PROVIDER_SETTING", "") == "demo":
            errors.append(
                checks.Warning(
                    "LLM_PROVIDER=demo in production: every reply is canned demo output.",
                    hint="Configure Azure OpenAI, OpenAI or a compatible server.",
                    id="kaiwa.W001",
                )
            )
        else:
            errors.append(
                Error(
                    "No LLM provider is configured in production (LLM_PROVIDER is unset and "
                    "neither AZURE_OPENAI_ENDPOINT nor OPENAI_API_KEY/OPENAI_BASE_URL is set); "
                    "the demo backend is never chosen silently there.",
                    hint="Configure a provider, or set LLM_PROVIDER=demo explicitly.",
                    id="kaiwa.E009",
                )
            )
        return errors

    def __repr__(self) -> str:
        return f"<DemoBackend token_delay={self.token_delay}>"

    # -- the backend API -------------------------------------------------------------

    async def stream_chat(
        self, *, messages: list[ChatMessage], options: ChatOptions
    ) -> AsyncIterator[StreamEvent]:
        """Stream the demo answer token by token (or ask for a tool)."""
        answer = self._answer(messages, options)
        with CallLog(
            provider="demo", model=DEMO_MODEL, stream=True, prompt=last_user_text(messages)
        ) as log:
            for index, token in enumerate(split_tokens(answer.content)):
                if index and self.token_delay:
                    await asyncio.sleep(self.token_delay)
                log.first_token()
                yield TextDelta(token)
            if answer.tool_calls:
                yield ToolCallsRequested(answer.tool_calls)
            log.usage, log.reply = answer.usage, answer.content
            log.ok()
            yield StreamEnd(
                finish_reason=answer.finish_reason, usage=answer.usage, model=DEMO_MODEL
            )

    async def complete_chat(
        self, *, messages: list[ChatMessage], options: ChatOptions
    ) -> Completion:
        """The same answer as `stream_chat`, in one piece."""
        answer = self._answer(messages, options)
        with CallLog(
            provider="demo", model=DEMO_MODEL, stream=False, prompt=last_user_text(messages)
        ) as log:
            log.usage, log.reply = answer.usage, answer.content
        return answer

    # -- relaying (the OpenAI-compatible routes): the same answers as OpenAI's chunks --

    async def relay_stream(
        self, *, body: dict[str, Any]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        messages, options = _relay_call(body)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> tuple[str, dict[str, Any]]:
            data = {
                "id": "chatcmpl-demo",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": DEMO_MODEL,
                "choices": choices,
                **extra,
            }
            return json.dumps(data), data

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "finish_reason": finish_reason}

        yield chunk([choice({"role": "assistant", "content": ""})])
        async for event in self.stream_chat(messages=messages, options=options):
            if isinstance(event, TextDelta):
                yield chunk([choice({"content": event.text})])
            elif isinstance(event, ToolCallsRequested):
                calls = [
                    {"index": index, **call.as_message_part()}
                    for index, call in enumerate(event.calls)
                ]
                yield chunk([choice({"tool_calls": calls})])
            elif isinstance(event, StreamEnd):
                yield chunk([choice({}, event.finish_reason)])
                if include_usage:
                    yield chunk([], usage=_usage_object(event.usage))

    async def relay_complete(self, *, body: dict[str, Any]) -> dict[str, Any]:
        messages, options = _relay_call(body)
        answer = await self.complete_chat(messages=messages, options=options)
        message: dict[str, Any] = {"role": "assistant", "content": answer.content or None}
        if answer.tool_calls:
            message["tool_calls"] = [call.as_message_part() for call in answer.tool_calls]
        return {
            "id": "chatcmpl-demo",
            "object": "chat.completion",
            "created": 0,
            "model": DEMO_MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
            "usage": _usage_object(answer.usage),
        }

    async def generate_image(self, *, prompt: str, size: str) -> GeneratedImageData:
        """A small deterministic PNG whose colours derive from the prompt."""
        with CallLog(
            provider="demo", model=DEMO_MODEL, stream=False, prompt=prompt, operation="image"
        ):
            data = demo_png(prompt)
        return GeneratedImageData(
            b64_bytes=data, url=None, revised_prompt=f"{LABEL} {prompt}", model=DEMO_MODEL
        )

    # -- deciding the answer ---------------------------------------------------------

    def _answer(self, messages: list[ChatMessage], options: ChatOptions) -> Completion:
        prompt_tokens = max(1, sum(len(message_text(m.get("content"))) for m in messages) // 2)
        tools = _offered_tools(options.tools)
        if messages and messages[-1].get("role") == "tool":
            content = _tool_summary(messages)
            return _completion(content, (), prompt_tokens)

        user_text = last_user_text(messages)
        name = self._tool_to_call(user_text, tools, options.tool_choice)
        if name is None:
            reply = _demo_reply(user_text, tools, images=_last_user_images(messages))
            return _completion(reply, (), prompt_tokens)
        arguments = json.dumps(
            _fit_to_schema(_arguments_for(name, user_text), tools.get(name)), ensure_ascii=False
        )
        digest = hashlib.sha256(f"{len(messages)}:{name}:{arguments}".encode()).hexdigest()
        call = ToolCall(id=f"call_demo_{digest[:20]}", name=name, arguments=arguments)
        return _completion("", (call,), prompt_tokens)

    def _tool_to_call(
        self, text: str, tools: dict[str, dict[str, Any]], tool_choice: Any
    ) -> str | None:
        if isinstance(tool_choice, dict):  # forced: {"type": "function", "function": {...}}
            forced = (tool_choice.get("function") or {}).get("name")
            if forced:
                return str(forced)
        if tool_choice == "none" or not tools:
            return None
        triggered = self.triggered_tool(text, tools)
        if triggered is None and tool_choice == "required":
            return next(iter(tools))
        return triggered

    @classmethod
    def triggered_tool(cls, text: str, offered: dict[str, Any] | list[str]) -> str | None:
        """The tool a trigger phrase in `text` asks for, if that tool is offered."""
        lowered = text.lower()
        for phrase, name in cls.DEMO_TOOL_TRIGGERS.items():
            if phrase.lower() in lowered and name in offered:
                return name
        return None


# -- helpers -----------------------------------------------------------------------------


def _completion(content: str, calls: tuple[ToolCall, ...], prompt_tokens: int) -> Completion:
    produced = content + "".join(call.name + call.arguments for call in calls)
    return Completion(
        content=content,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=max(1, len(produced) // 2)),
        model=DEMO_MODEL,
    )


def _offered_tools(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """name -> JSON schema of its parameters, in the order offered."""
    offered: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name"):
            offered[str(function["name"])] = function.get("parameters") or {}
    return offered


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _last_user_images(messages: list[ChatMessage]) -> int:
    """How many image parts the last user message carries (attachments, /v1 image parts)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if not isinstance(content, list):
                return 0
            return sum(
                1 for part in content if isinstance(part, dict) and part.get("type") == "image_url"
            )
    return 0


def _demo_reply(user_text: str, tools: dict[str, dict[str, Any]], *, images: int = 0) -> str:
    said = _snippet(user_text)
    ja = (
        f"{LABEL} 「{said}」を受け取りました。これはデモ用の自動応答で、LLM はまだ設定されて"
        "いません。OPENAI_API_KEY（OpenAI）、OPENAI_BASE_URL（Ollama などの互換サーバー）、"
        "または AZURE_OPENAI_ENDPOINT と AZURE_OPENAI_API_KEY（Azure OpenAI）を設定すると、"
        "本物のモデルが応答します。"
    )
    en = (
        f'You said: "{said}". This is an automatic demo reply: no LLM is configured. Set '
        "OPENAI_API_KEY (OpenAI), OPENAI_BASE_URL (a compatible server such as Ollama) or "
        "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (Azure OpenAI) to talk to a real model."
    )
    if images:
        # The demo cannot look at them; it says that it got them.
        ja += f" 画像 {images} 枚も受け取りました。"
        en += f" It also received {images} image{'s' if images != 1 else ''}."
    phrases = [phrase for phrase, name in DemoBackend.DEMO_TOOL_TRIGGERS.items() if name in tools]
    if phrases:
        listed = "、".join(f"「{phrase}」" for phrase in phrases)
        ja += f" {listed}と書くとツールを試せます。"
        en += " Try " + ", ".join(f'"{phrase}"' for phrase in phrases) + " to see the tools."
    return f"{ja}\n\n{en}"


def _tool_summary(messages: list[ChatMessage]) -> str:
    """Summarise the tool results at the end of the history."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                names[str(call.get("id"))] = str((call.get("function") or {}).get("name", "tool"))
    lines = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        name = names.get(str(message.get("tool_call_id")), "tool")
        content = message_text(message.get("content"))
        embed = _markdown_of(content)
        if embed:  # a generated image: show it, as a real model would
            lines.append(f"\n{embed}\n")
        lines.append(f"- {name}: {_snippet(content, 120)}")
    lines.reverse()
    return (
        f"{LABEL} ツールを実行しました。結果は次のとおりです。/ The tool ran; its result:\n"
        + "\n".join(lines)
    )


def _markdown_of(content: str) -> str:
    """The `markdown` a tool result offers for embedding (generate_image's image), if any."""
    try:
        result = json.loads(content)
    except ValueError:
        return ""
    embed = result.get("markdown") if isinstance(result, dict) else None
    return embed if isinstance(embed, str) and embed.startswith("![") else ""


def _without_trigger(text: str, tool: str) -> str:
    cleaned = text
    for phrase, name in DemoBackend.DEMO_TOOL_TRIGGERS.items():
        if name == tool:
            cleaned = re.sub(re.escape(phrase), " ", cleaned, flags=re.IGNORECASE)
    cleaned = " ".join(cleaned.split()).strip(_TRIM)
    return cleaned or text.strip() or "demo"


def analyze(text: str) -> dict[str, Any]:
    """Deterministic stand-in for a model's analysis (the analyze_text schema)."""
    lowered = text.lower()
    score = sum(word in lowered for word in _POSITIVE) - sum(word in lowered for word in _NEGATIVE)
    sentiment = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    stripped = text.strip()
    if stripped.endswith(("?", "？", "か")):
        intent = "question"
    elif any(word in lowered for word in ("して", "ください", "please", "can you")):
        intent = "request"
    else:
        intent = "statement"
    keywords: list[str] = []
    for word in _KEYWORD_RE.findall(text):
        if word.lower() not in _STOPWORDS and word not in keywords:
            keywords.append(word)
    return {"sentiment": sentiment, "intent": intent, "confidence": 0.5, "keywords": keywords[:5]}


_ARGUMENT_BUILDERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "save_note": lambda text: {
        "title": _snippet(_without_trigger(text, "save_note"), 30),
        "content": _without_trigger(text, "save_note"),
    },
    "analyze_text": lambda text: analyze(_without_trigger(text, "analyze_text")),
    "generate_image": lambda text: {
        "prompt": _without_trigger(text, "generate_image"),
        "size": "1024x1024",
    },
    "search_web": lambda text: {"query": _without_trigger(text, "search_web")},
}


def _arguments_for(name: str, text: str) -> dict[str, Any]:
    builder = _ARGUMENT_BUILDERS.get(name)
    return builder(text) if builder else {}


def _placeholder(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    return {
        "string": "demo",
        "number": 0.5,
        "integer": 1,
        "boolean": False,
        "array": [],
        "object": {},
    }.get(kind, "demo")


def _fit_to_schema(arguments: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    """Make the arguments match the offered schema: known properties, required ones filled."""
    if not schema or not isinstance(schema.get("properties"), dict):
        return arguments
    properties: dict[str, Any] = schema["properties"]
    fitted = {key: value for key, value in arguments.items() if key in properties}
    for key, value in list(fitted.items()):
        enum = properties[key].get("enum") if isinstance(properties[key], dict) else None
        if enum and value not in enum:
            fitted[key] = enum[0]
    for key in schema.get("required") or []:
        if key not in fitted and isinstance(properties.get(key), dict):
            fitted[key] = _placeholder(properties[key])
    return fitted


def demo_png(prompt: str, size: int = 64) -> bytes:
    """A `size`×`size` RGB PNG: a diagonal gradient between two colours from the prompt."""
    digest = hashlib.sha256(prompt.encode()).digest()
    start, end = digest[0:3], digest[3:6]
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            t = (x + y) / (2 * (size - 1))
            rows.extend(round(a + (b - a) * t) for a, b in zip(start, end, strict=True))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _relay_call(body: dict[str, Any]) -> tuple[list[ChatMessage], ChatOptions]:
    """The messages and options of a relayed request body, as the demo answers them."""
    return list(body.get("messages") or []), ChatOptions(
        model=body.get("model"),
        temperature=body.get("temperature"),
        tools=body.get("tools"),
        tool_choice=body.get("tool_choice"),
    )


def _usage_object(usage: Usage | None) -> dict[str, int]:
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
