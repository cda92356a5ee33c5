"""Download a conversation as Markdown or JSON."""

from typing import Any

from conversations.models import Conversation, Message
from conversations.selectors import message_history

_ROLE_HEADINGS = {
    Message.Role.SYSTEM: "System",
    Message.Role.USER: "User",
    Message.Role.ASSISTANT: "Assistant",
    Message.Role.TOOL: "Tool",
}


def export_json(*, conversation: Conversation) -> dict[str, Any]:
    """The conversation and its messages as a JSON-ready dict."""
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "system_prompt": conversation.system_prompt,
        "model": conversation.model,
        "temperature": conversation.temperature,
        "max_tokens": conversation.max_tokens,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "messages": [
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "tool_calls": m.tool_calls,
                "tool_call_id": m.tool_call_id or None,
                "model": m.model or None,
                "usage": m.usage,
                "finish_reason": m.finish_reason or None,
                "error": m.error,
                "created_at": m.created_at.isoformat(),
            }
            for m in message_history(conversation=conversation)
        ],
    }


def export_markdown(*, conversation: Conversation) -> str:
    """The conversation as a readable Markdown document."""
    lines = [f"# {conversation.title or conversation.id}", ""]
    if conversation.system_prompt:
        lines += [f"> {line}" for line in conversation.system_prompt.splitlines()] + [""]
    for m in message_history(conversation=conversation):
        heading = _ROLE_HEADINGS.get(m.role, m.role)
        suffix = "" if m.status == Message.Status.COMPLETE else f" ({m.status})"
        lines += [f"## {heading}{suffix}", f"_{m.created_at.isoformat()}_", ""]
        if m.tool_calls:
            for call in m.tool_calls:
                fn = call.get("function", {})
                lines.append(f"- tool call `{fn.get('name')}`: `{fn.get('arguments')}`")
            lines.append("")
        if m.content:
            lines += [m.content, ""]
        if m.error_code:
            lines += [f"**error** `{m.error_code}`: {m.error_text}", ""]
    return "\n".join(lines).rstrip() + "\n"
