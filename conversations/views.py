"""Server-rendered pages: chat, notes, images. Writes go through the REST API from the page."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from conversations import allowed_models, selectors
from conversations.message_items import MessageItem, message_items
from conversations.models import Conversation, Message
from conversations.tree import active_path

_SIDEBAR_SIZE = 100


@login_required
def chat(request: HttpRequest, conversation_id=None) -> HttpResponse:
    """The chat page: a new conversation at /, an existing one at /c/<id>/."""
    conversation = _owned_or_404(request, conversation_id) if conversation_id else None
    context = {
        "conversation": conversation,
        "conversations": selectors.conversation_list(user=request.user)[:_SIDEBAR_SIZE],
        "items": _items(conversation),
        "busy": conversation is not None and conversation.active_turn_id is not None,
        "defaults": {
            "system_prompt": settings.LLM_SYSTEM_PROMPT,
            "temperature": settings.LLM_DEFAULT_TEMPERATURE,
            "max_tokens": settings.LLM_DEFAULT_MAX_TOKENS,
            "max_tokens_cap": settings.LLM_MAX_TOKENS_CAP,
        },
        "models": {
            "choices": allowed_models.allowed_models(),
            # A conversation without a model, or with one no longer offered, uses the default.
            "selected": allowed_models.model_for_turn(conversation.model if conversation else ""),
        },
        "max_message_chars": settings.KAIWA["MAX_MESSAGE_CHARS"],
        "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES,
        # Empty bubbles the page script clones for messages that arrive live.
        "blank": {
            "user": MessageItem(id="", role="user", status=Message.Status.PENDING),
            "assistant": MessageItem(id="", role="assistant", status=Message.Status.PENDING),
            "tools": MessageItem(id="", role="tools", status=Message.Status.COMPLETE),
        },
    }
    return render(request, "conversations/chat.html", context)


@login_required
def message_list(request: HttpRequest, conversation_id) -> HttpResponse:
    """The message list alone, for the page to re-sync after a reconnect."""
    conversation = _owned_or_404(request, conversation_id)
    return render(request, "conversations/chat.html#message-list", {"items": _items(conversation)})


@login_required
def notes(request: HttpRequest) -> HttpResponse:
    """The user's saved notes: list, create, edit, delete."""
    return render(
        request, "conversations/notes.html", {"notes": selectors.note_list(user=request.user)}
    )


@login_required
def images(request: HttpRequest) -> HttpResponse:
    """Generate images and browse the gallery (loaded from GET /api/images/)."""
    sizes = getattr(settings, "IMAGE_SIZES", ["1024x1024", "1792x1024", "1024x1792"])
    return render(request, "conversations/images.html", {"sizes": sizes})


def _owned_or_404(request: HttpRequest, conversation_id) -> Conversation:
    try:
        return selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    except Conversation.DoesNotExist as exc:
        raise Http404 from exc


def _items(conversation: Conversation | None):
    if conversation is None:
        return []
    return message_items(active_path(conversation))
