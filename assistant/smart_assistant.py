"""POST /api/assistant/ (the seed's smart assistant): one message, the model picks a tool.

The exchange is an ordinary turn in a new conversation (tool_choice "auto", the usual
round limit), stored like any other; the answer is read back from the stored messages.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from assistant.db_threads import in_db_thread
from assistant.turn_runner.handoff import spawn_from_thread, turn_outcome
from assistant.turn_runner.loading import load_started_turn
from assistant.turns import turn_start
from conversations.models import Conversation, Message

SYSTEM_PROMPT = (
    "あなたは多機能なAIアシスタントです。"
    "適切なツールを使用して、ユーザーのリクエストに応えてください。"
)
TEMPERATURE = 0.3


@dataclass(frozen=True, slots=True)
class AssistantAnswer:
    conversation: Conversation
    reply: Message
    function_used: str | None  # the first tool the model called, None if it only answered
    arguments: Any
    result: Any
    response: str


def assistant_start(*, user: Any, message: str) -> Callable[[], Awaitable[AssistantAnswer]]:
    """Start one turn for `message` in a new conversation; returns what to await for its
    answer (on the event loop), which raises the turn's error if it failed."""
    turn = turn_start(
        user=user, content=message, system_prompt=SYSTEM_PROMPT, temperature=TEMPERATURE
    )
    loaded = load_started_turn(turn, user=user)
    # Spawned here, not when the view waits: a client gone before then leaves it running.
    task = spawn_from_thread(turn.reply.pk, loaded=loaded)

    async def answered() -> AssistantAnswer:
        outcome = await turn_outcome(task)
        if outcome.error is not None:
            raise outcome.error
        return await in_db_thread(_answer)(turn.conversation, turn.reply.pk)

    return answered


def _answer(conversation: Conversation, reply_id) -> AssistantAnswer:
    messages = list(conversation.messages.order_by("created_at", "id"))
    reply = next(m for m in messages if m.pk == reply_id)
    function_used, arguments, result = _first_tool_use(messages)
    return AssistantAnswer(
        conversation=conversation,
        reply=reply,
        function_used=function_used,
        arguments=arguments,
        result=result,
        response=reply.content,
    )


def _first_tool_use(messages: list[Message]) -> tuple[str | None, Any, Any]:
    """Name, arguments and result of the first stored tool call (Nones when there is none)."""
    call = next(
        (m.tool_calls[0] for m in messages if m.role == Message.Role.ASSISTANT and m.tool_calls),
        None,
    )
    if not isinstance(call, dict):
        return None, None, None
    function = call.get("function") or {}
    result_message = next(
        (m for m in messages if m.role == Message.Role.TOOL and m.tool_call_id == call.get("id")),
        None,
    )
    return (
        function.get("name"),
        _json_or_text(function.get("arguments")),
        _json_or_text(result_message.content) if result_message else None,
    )


def _json_or_text(text: Any) -> Any:
    """Parsed JSON; the raw text when the model produced something that is not JSON."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
