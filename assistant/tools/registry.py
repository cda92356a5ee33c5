"""The tool registry: names, descriptions, JSON-schema arguments and handlers.

A handler receives the acting user and conversation and calls services; it can only ever
act for that user, whatever the model puts in the arguments. Failures come back to the model
as a result it can read (`{"error": ...}`), never as an exception out of the turn.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from assistant.backends.base import ToolCall

logger = logging.getLogger("kaiwa.tools")


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who the tool acts for. Handlers take ownership from here, never from arguments."""

    user: Any
    conversation: Any
    message: Any  # the assistant reply being generated


Handler = Callable[[dict[str, Any], ToolContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    # Offered to the model only when this returns True (e.g. search needs a provider).
    available: Callable[[], bool] = lambda: True

    def spec(self) -> dict[str, Any]:
        """The entry of the `tools` request parameter."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


_tools: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    """Add a tool; its schema is checked now, so a broken tool fails at import, not mid-turn."""
    if not tool.name.isidentifier() or not tool.description:
        raise ValueError(f"Tool {tool.name!r} needs an identifier name and a description.")
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    _tools[tool.name] = tool
    return tool


def get(name: str) -> Tool | None:
    return _tools.get(name)


def available_tools() -> list[Tool]:
    _load_builtin_tools()
    return [tool for tool in _tools.values() if tool.available()]


def available_specs() -> list[dict[str, Any]]:
    """The `tools` parameter for a chat call (empty when no tool is available)."""
    return [tool.spec() for tool in available_tools()]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    call: ToolCall
    arguments: dict[str, Any] | None
    result: dict[str, Any]
    ok: bool


def not_run(call: ToolCall, reason: str) -> ToolOutcome:
    """The result of a call that was not executed (a cap was reached): the model reads why."""
    return ToolOutcome(
        call, None, {"error": f"Not run: the tool call limit was reached ({reason})."}, ok=False
    )


async def execute(call: ToolCall, context: ToolContext) -> ToolOutcome:
    """Run one tool call; unknown tools and bad arguments become errors the model can read."""
    _load_builtin_tools()
    tool = _tools.get(call.name)
    if tool is None or not tool.available():
        return ToolOutcome(call, None, {"error": f"Unknown tool: {call.name}"}, ok=False)
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        return ToolOutcome(call, None, {"error": f"Arguments are not valid JSON: {exc.msg}"}, False)
    if not isinstance(arguments, dict):
        return ToolOutcome(call, None, {"error": "Arguments must be a JSON object."}, ok=False)
    errors = sorted(
        jsonschema.Draft202012Validator(tool.parameters).iter_errors(arguments), key=str
    )
    if errors:
        detail = "; ".join(e.message for e in errors[:3])
        return ToolOutcome(call, arguments, {"error": f"Invalid arguments: {detail}"}, ok=False)
    try:
        result = await tool.handler(arguments, context)
    except Exception as exc:  # a tool failure is reported to the model, not raised
        logger.warning("tool_failed", extra={"tool": call.name, "error": type(exc).__name__})
        message = getattr(exc, "detail", None) or "The tool failed."
        return ToolOutcome(call, arguments, {"error": str(message)}, ok=False)
    return ToolOutcome(call, arguments, result, ok="error" not in result)


_loaded = False


def _load_builtin_tools() -> None:
    """Import the tool modules once (each registers itself)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib import import_module

    for module in BUILTIN_TOOL_MODULES:
        import_module(module)


BUILTIN_TOOL_MODULES: list[str] = [
    "assistant.tools.analyze_text",
    "assistant.tools.save_note",
    "assistant.tools.generate_image",
    "assistant.tools.search_web",
]
