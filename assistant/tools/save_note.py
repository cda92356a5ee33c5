"""save_note: save a note for the acting user, linked to this conversation and reply.

Ownership comes only from the ToolContext; the schema admits no ids, so a model that
invents an owner or a conversation gets a schema error back.
"""

from typing import Any

from assistant.db_threads import in_db_thread
from assistant.tools.registry import Tool, ToolContext, register
from conversations.services import note_create
from conversations.validation import MAX_TITLE_CHARS

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TITLE_CHARS,
            "description": "メモのタイトル / the note's title",
        },
        "content": {
            "type": "string",
            "minLength": 1,
            "maxLength": 20000,
            "description": "メモの内容 / the note's text",
        },
    },
    "required": ["title", "content"],
    "additionalProperties": False,
}


@in_db_thread
def _create(context: ToolContext, title: str, content: str):
    return note_create(
        owner=context.user,
        title=title,
        content=content,
        conversation=context.conversation,
        message=context.message,
    )


async def _handle(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    note = await _create(context, arguments["title"], arguments["content"])
    return {"id": note.pk, "title": note.title}


TOOL = register(
    Tool(
        name="save_note",
        description=(
            "メモを保存する。Save a note (title and content) for the user; it appears in their "
            "notes."
        ),
        parameters=PARAMETERS,
        handler=_handle,
    )
)
