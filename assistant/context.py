"""The context sent to the model: system prompt plus as much recent history as fits a budget.

Tokens are estimated locally (no network, no tokenizer download): about four ASCII
characters per token, and one token per other character (Japanese text is close to one
token per character with current tokenizers). The estimate errs on the high side.
"""

from collections.abc import Sequence

from django.conf import settings

from assistant.backends.base import ChatMessage
from conversations.attachments.files import IMAGE_MAX_LONG_SIDE, IMAGE_MAX_SHORT_SIDE, image_tokens
from conversations.models import Message

MESSAGE_OVERHEAD_TOKENS = 4  # role and framing of each message
# An image part is counted as the largest image Kaiwa stores costs (its exact size is not
# read back from the data URL).
IMAGE_PART_TOKENS = image_tokens(IMAGE_MAX_LONG_SIDE, IMAGE_MAX_SHORT_SIDE)


def estimate_tokens(text: str) -> int:
    """A conservative local token estimate."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)


def _content_tokens(content: str | list | None) -> int:
    """A message's content: a string, or content parts (text and images)."""
    if not isinstance(content, list):
        return estimate_tokens(content or "")
    tokens = 0
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            tokens += estimate_tokens(str(part.get("text", "")))
        elif isinstance(part, dict) and part.get("type") == "image_url":
            tokens += IMAGE_PART_TOKENS
    return tokens


def _message_tokens(message: ChatMessage) -> int:
    tokens = MESSAGE_OVERHEAD_TOKENS + _content_tokens(message.get("content"))
    for call in message.get("tool_calls") or ():
        fn = call.get("function", {})
        tokens += estimate_tokens(fn.get("name", "")) + estimate_tokens(fn.get("arguments", ""))
    return tokens


def estimate_messages_tokens(messages: Sequence[ChatMessage]) -> int:
    """The local estimate of a request's messages (what a model call's prompt costs)."""
    return sum(_message_tokens(m) for m in messages)


def to_chat_message(message: Message) -> ChatMessage:
    """A stored message in the OpenAI wire shape. A user message with attachments sends the
    content assistant.attachment_context.expand_history gave it."""
    content = message.__dict__.get("context_content", message.content)
    chat: ChatMessage = {"role": message.role, "content": content}
    if message.tool_calls:
        chat["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        chat["tool_call_id"] = message.tool_call_id
    return chat


def _blocks(history: Sequence[Message]) -> list[list[ChatMessage]]:
    """Split history into exchanges, each starting at a user message.

    History is trimmed by whole exchanges so a tool result is never sent without the
    assistant message that called it (providers reject such orphans).
    """
    blocks: list[list[ChatMessage]] = []
    for message in history:
        if message.role == Message.Role.USER or not blocks:
            blocks.append([])
        if (
            message.role == Message.Role.ASSISTANT
            and not message.content
            and not message.tool_calls
        ):
            continue  # an empty failed or pending reply tells the model nothing
        blocks[-1].append(to_chat_message(message))
    return blocks


def build_context(
    *, system_prompt: str, history: Sequence[Message], budget_tokens: int | None = None
) -> list[ChatMessage]:
    """System prompt + the newest exchanges that fit; the newest exchange always goes."""
    budget = settings.LLM_CONTEXT_TOKENS if budget_tokens is None else budget_tokens
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    remaining = budget - sum(_message_tokens(m) for m in system)
    kept: list[list[ChatMessage]] = []
    for block in reversed(_blocks(history)):
        cost = sum(_message_tokens(m) for m in block)
        if kept and cost > remaining:
            break
        kept.append(block)
        remaining -= cost
    return system + [m for block in reversed(kept) for m in block]
