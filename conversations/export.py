"""Download a conversation as Markdown or JSON: its active path, or (JSON) its whole tree."""

from typing import Any

from conversations.attachments.services import load_links, message_attachments_json
from conversations.models import Conversation, Message
from conversations.tree import active_path, position_of, whole_tree

_ROLE_HEADINGS = {
    Message.Role.SYSTEM: "System",
    Message.Role.USER: "User",
    Message.Role.ASSISTANT: "Assistant",
    Message.Role.TOOL: "Tool",
}


def export_json(*, conversation: Conversation, tree: bool = False) -> dict[str, Any]:
    """The conversation and the messages of its active path as a JSON-ready dict; with
    `tree`, every message (each with its `parent_id`, so the tree can be rebuilt)."""
    messages = whole_tree(conversation) if tree else active_path(conversation)
    load_links(messages)
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "system_prompt": conversation.system_prompt,
        "model": conversation.model,
        "temperature": conversation.temperature,
        "max_tokens": conversation.max_tokens,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "active_leaf_id": str(conversation.active_leaf_id) if conversation.active_leaf_id else None,
        "tree": tree,
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
                "parent_id": str(m.parent_id) if m.parent_id else None,
                "sibling_index": position_of(m).index,
                "sibling_count": position_of(m).count,
                "turn_reply_id": str(m.turn_reply_id) if m.turn_reply_id else None,
                "attachments": message_attachments_json(m),
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ],
    }


def export_markdown(*, conversation: Conversation) -> str:
    """The conversation's active path as a readable Markdown document."""
    lines = [f"# {conversation.title or conversation.id}", ""]
    if conversation.system_prompt:
        lines += [f"> {line}" for line in conversation.system_prompt.splitlines()] + [""]
    messages = active_path(conversation)
    load_links(messages)
    for m in messages:
        heading = _ROLE_HEADINGS.get(m.role, m.role)
        suffix = "" if m.status == Message.Status.COMPLETE else f" ({m.status})"
        lines += [f"## {heading}{suffix}", f"_{m.created_at.isoformat()}_", ""]
        attachments = message_attachments_json(m)
        for attachment in attachments:
            lines.append(f"- attachment: {_attachment_line(attachment)}")
        if attachments:
            lines.append("")
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


def _attachment_line(attachment: dict[str, Any]) -> str:
    details = [attachment["content_type"], f"{attachment['size']} bytes"]
    if attachment["pages"] is not None:
        details.append(f"{attachment['pages']} pages")
    if attachment["included_note"]:
        details.append(f"the model read {attachment['included_note']}")
    return f"{attachment['name']} ({', '.join(details)})"
