"""A conversation's title, written by the model after its first reply.

Until then (and whenever the model cannot help) the title is the first words of the first
message (conversations.services). The call runs as a task of its own once the first reply
has ended, so the reply's `done` never waits for it; a title the user set, before or
during the call, is never replaced (conversations.services.conversation_title_from_model).
Every open socket of the owner hears of the new title (`conversation_title`),
so the sidebar of each tab and the heading of the conversation's own tabs follow.
"""

import asyncio
import contextvars
import logging

from django.conf import settings

from assistant.backends import get_backend
from assistant.db_threads import in_db_thread
from assistant.errors import LLMError
from assistant.side_calls import side_completion
from assistant.user_events import publish_user_event
from conversations.models import Conversation
from conversations.services import conversation_title_from_model
from usage.models import UsageKind

logger = logging.getLogger("kaiwa.titles")

TITLE_MAX_TOKENS = 30
TITLE_MAX_CHARS = 60
# What the model reads of the first exchange: enough to name it, cheap to send.
_EXCERPT_CHARS = 1500
INSTRUCTIONS = (
    "You name conversations. Reply with a short title (at most six words) for the "
    "conversation below, in the language the user wrote in. Reply with the title only: no "
    "quotation marks, no final punctuation, no explanation."
)

# Strong references to the running title tasks (asyncio keeps only weak ones).
_tasks: set[asyncio.Task] = set()


def wants_title(conversation: Conversation) -> bool:
    """Whether a model title is due: LLM_AUTO_TITLE is on, nobody named the conversation
    yet, and a real model answers (the demo backend's canned answer is no title)."""
    return (
        getattr(settings, "LLM_AUTO_TITLE", True)
        and conversation.title_source == Conversation.TitleSource.FIRST_WORDS
        and not get_backend().info.is_demo
    )


def spawn_title(*, conversation_id, user, question: str, answer: str) -> asyncio.Task:
    """Ask for the title in a task detached from the caller (and its context)."""
    task = asyncio.get_running_loop().create_task(
        write_title(conversation_id=conversation_id, user=user, question=question, answer=answer),
        context=contextvars.Context(),
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def write_title(*, conversation_id, user, question: str, answer: str) -> str | None:
    """Ask the model for a title, store it unless the user set one; the stored title, or None.

    Never raises: a failure is logged and leaves the first-words title.
    """
    try:
        text = await side_completion(
            user=user,
            kind=UsageKind.TITLE,
            messages=[
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": _excerpt(question, answer)},
            ],
            max_tokens=TITLE_MAX_TOKENS,
        )
        title = clean_title(text)
        if not title:
            logger.warning("title_empty", extra={"conversation_id": str(conversation_id)})
            return None
        if not await in_db_thread(conversation_title_from_model)(
            conversation_id=conversation_id, title=title
        ):
            return None  # the user named it meanwhile, or it was deleted
        await _announce(user_id=user.pk, conversation_id=conversation_id, title=title)
        return title
    except LLMError as exc:
        logger.warning(
            "title_failed", extra={"conversation_id": str(conversation_id), "code": exc.code}
        )
    except Exception:  # a bug must not surface as an unretrieved task exception
        logger.exception("title_crashed", extra={"conversation_id": str(conversation_id)})
    return None


def clean_title(text: str) -> str:
    """The model's answer as a title: its first line, without quotes or a final period."""
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    line = line.removeprefix("Title:").removeprefix("タイトル：").strip()
    line = line.strip("\"'「」『』“”` ").rstrip("。.")
    return line[:TITLE_MAX_CHARS].strip()


def _excerpt(question: str, answer: str) -> str:
    return f"User:\n{question[:_EXCERPT_CHARS]}\n\nAssistant:\n{answer[:_EXCERPT_CHARS]}"


async def _announce(*, user_id, conversation_id, title: str) -> None:
    # The title is stored: a tab that misses this shows it at its next reload.
    await publish_user_event(
        user_id,
        {"type": "conversation_title", "conversation_id": str(conversation_id), "title": title},
    )
