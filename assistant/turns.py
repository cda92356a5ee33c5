"""Starting a turn: validate, store the user's message and a pending reply, mark the
conversation busy — all in one short transaction, before any model call.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from assistant.attachment_context import (
    attachment_tokens,
    document_budget,
    plan_included_units,
    require_vision,
)
from assistant.context import MESSAGE_OVERHEAD_TOKENS, estimate_tokens
from assistant.limits import quota_reserve
from config import plain_sql
from conversations.allowed_models import model_for_turn, require_allowed
from conversations.attachments.services import attachments_for_send, attachments_link, links_of
from conversations.errors import InvalidInput, NotFound, TurnInProgress
from conversations.models import Attachment, Conversation, Message
from conversations.services import conversation_create, conversation_title_from_message
from conversations.tree import active_leaf_id
from conversations.validation import validate_message_text


@dataclass(frozen=True, slots=True)
class Turn:
    conversation: Conversation
    user_message: Message
    reply: Message
    created: bool  # False when an earlier turn with the same client_id was returned
    # The conversation had no messages before this turn: the user's message is the whole
    # history, and the only version at its place (read in the turn's transaction).
    first_exchange: bool = False


def turn_start(
    *,
    user,
    content: str | None = None,
    conversation: Conversation | None = None,
    client_id: uuid.UUID | None = None,
    system_prompt: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    model: str | None = None,
    edit_of: Message | None = None,
    regenerate_of: Message | None = None,
    attachments: Sequence[uuid.UUID] | None = None,
) -> Turn:
    """Persist the user's message and a pending reply; refuse a second concurrent turn.

    Where the turn goes in the conversation's tree: a send follows the active leaf; with
    `edit_of` (a user message) the new user message is its sibling, the next version of it;
    with `regenerate_of` (a reply) no user message is stored and the new reply is a sibling
    of that one (`content` is not given then). Either way the new reply becomes the active
    leaf.

    With a `client_id` already used in this conversation — or, without a conversation, for
    a conversation of this user — the earlier turn is returned and nothing new is stored
    (`created` is False). `model`: the new conversation's model, or this turn's alone in an
    existing one; it must be one of LLM_MODELS (InvalidInput).

    `attachments`: ids of attachments of this user in this conversation that the new user
    message carries (NotFound for any other; at most ATTACHMENT_MAX_PER_MESSAGE). An edit
    without it keeps the edited message's attachments; a regeneration keeps its user
    message's. A message that carries attachments may have no text (stored as "").
    Images need a model of LLM_VISION_MODELS (VisionUnsupported); how much of each document
    fits the context is decided here and stored with the message.
    """
    branch = edit_of or regenerate_of
    if branch is not None:
        conversation = branch.conversation
        _check_branch_point(edit_of=edit_of, regenerate_of=regenerate_of)
    if regenerate_of is None:
        carries = bool(attachments) or (
            attachments is None and edit_of is not None and edit_of.attachment_count > 0
        )
        validate_message_text(content, may_be_empty=carries)
        if not content.strip():
            content = ""  # only attachments: no text to store or to send
    elif attachments is not None:
        raise TypeError("a regeneration keeps its user message's attachments")
    if conversation is None and attachments:
        # A new conversation has no attachments yet: these belong to another one.
        raise NotFound("No such attachment in this conversation.")
    require_allowed(model or "")
    # The quota is checked once, by the reservation inside the start transaction.
    try:
        return _turn_start_after_recovery(
            user=user,
            content=content or "",
            conversation=conversation,
            client_id=client_id,
            system_prompt=system_prompt,
            temperature=temperature,
            max_tokens=max_tokens,
            model=model,
            edit_of=edit_of,
            regenerate_of=regenerate_of,
            attachment_ids=attachments,
        )
    except IntegrityError:
        # Two requests with the same client_id raced; the other one won. Return its turn.
        if client_id is None:
            raise
        earlier = _earlier_turn_of_client_id(
            user=user, conversation=conversation, client_id=client_id
        )
        if earlier is None:
            raise
        return earlier


def _check_branch_point(*, edit_of: Message | None, regenerate_of: Message | None) -> None:
    if edit_of is not None and regenerate_of is not None:
        raise TypeError("turn_start() takes edit_of or regenerate_of, not both")
    if edit_of is not None and (
        edit_of.role != Message.Role.USER or edit_of.turn_reply_id is not None
    ):
        raise InvalidInput("Only a user message can be edited.")
    if regenerate_of is not None and (
        regenerate_of.role != Message.Role.ASSISTANT
        or regenerate_of.turn_reply_id is not None
        or regenerate_of.parent_id is None
    ):
        raise InvalidInput("Only a reply to a user message can be regenerated.")


def _turn_start_after_recovery(**arguments) -> Turn:
    """_turn_start; a conversation busy with a reply whose process died is not stuck: that
    reply becomes `interrupted` (assistant.reply_lifecycle) and the start is tried once more."""
    from assistant.reply_lifecycle import recover_stale_replies

    try:
        return _turn_start(**arguments)
    except TurnInProgress:
        conversation = arguments["conversation"]
        if conversation is None or not recover_stale_replies(conversation_id=conversation.pk):
            raise
        return _turn_start(**arguments)


@transaction.atomic
def _turn_start(
    *,
    user,
    content,
    conversation,
    client_id,
    system_prompt,
    temperature,
    max_tokens,
    model,
    edit_of,
    regenerate_of,
    attachment_ids,
):
    if conversation is None:
        conversation = conversation_create(
            owner=user,
            system_prompt=system_prompt,
            model=model or "",
            temperature=temperature,
            max_tokens=max_tokens,
            client_id=client_id,
        )
    # The row lock serialises turn starts per conversation (SQLite: the IMMEDIATE transaction).
    # This and the start's other writes are plain SQL (config.plain_sql): a turn's latency.
    conversation = plain_sql.get_for_update(Conversation, conversation.pk)
    if conversation.active_turn_id is not None:
        # A repeated send of the running turn gets that turn; any other send must wait.
        earlier = _earlier_turn(conversation, client_id) if client_id is not None else None
        if earlier is not None:
            return earlier
        raise TurnInProgress()
    # A repeated send of a finished turn breaks the unique client_id constraint below, and
    # turn_start returns the earlier turn then: no lookup on the common path.
    history_chars, history_count = _history_size(conversation)
    turn_model = model_for_turn(model or conversation.model)
    carried: list[Attachment] = []

    if regenerate_of is not None:
        user_message = Message.objects.filter(pk=regenerate_of.parent_id).first()
        if user_message is None:  # cleared meanwhile
            raise NotFound("The message no longer exists.")
        if user_message.role != Message.Role.USER:
            raise InvalidInput("Only a reply to a user message can be regenerated.")
        # Its attachments go to the model again (the loader reads them with the path).
        require_vision(
            model=turn_model, attachments=[link.attachment for link in links_of(user_message)]
        )
        new_rows = []
    else:
        if edit_of is not None:
            if not Message.objects.filter(pk=edit_of.pk).exists():  # cleared meanwhile
                raise NotFound("The message no longer exists.")
            parent_id = edit_of.parent_id
        elif history_count:
            parent_id = active_leaf_id(conversation)
        else:  # no message yet: no leaf to look up
            parent_id = None
        carried = _carried_attachments(
            user=user, conversation=conversation, ids=attachment_ids, edit_of=edit_of
        )
        require_vision(model=turn_model, attachments=carried)
        user_message = Message(
            conversation=conversation,
            role=Message.Role.USER,
            content=content,
            client_id=client_id,
            parent_id=parent_id,
            attachment_count=len(carried),
        )
        new_rows = [user_message]
    reply = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        reply_to=user_message,
        parent=user_message,
        model=turn_model,
        # A regeneration's client_id is the reply's: it has no user message of its own.
        client_id=client_id if regenerate_of is not None else None,
    )
    new_rows.append(reply)
    # Refused here, inside the lock, so concurrent sends see each other's reservations.
    quota_reserve(
        user=user,
        reply_id=reply.pk,
        tokens=_reservation_estimate(
            conversation,
            content,
            history_chars=history_chars,
            history_count=history_count,
            attachment_tokens=sum(attachment_tokens(a) for a in carried),
        ),
    )
    # One INSERT for both rows (their UUIDs are made here, so the reply can point at the user
    # message before either is stored); Message has no save() override or signals to miss.
    plain_sql.insert(new_rows)
    if carried:
        system = conversation.system_prompt if system_prompt is None else system_prompt
        attachments_link(
            message=user_message,
            attachments=carried,
            included_units=plan_included_units(
                attachments=carried,
                budget_tokens=document_budget(system_prompt=system, content=content),
            ),
        )
    conversation.active_turn = reply
    conversation.active_leaf = reply
    conversation.updated_at = timezone.now()
    # conversation.save(update_fields=...) as one plain UPDATE (Conversation has no save()
    # override or signals to miss either).
    changed = {
        "active_turn": reply.pk,
        "active_leaf": reply.pk,
        "updated_at": conversation.updated_at,
    }
    # A message of attachments alone is named after its first file until the model names it.
    if regenerate_of is None and conversation_title_from_message(
        conversation=conversation, text=content or (carried[0].name if carried else "")
    ):
        changed["title"] = conversation.title
    plain_sql.update(Conversation, conversation.pk, changed)
    return Turn(
        conversation=conversation,
        user_message=user_message,
        reply=reply,
        created=True,
        first_exchange=history_count == 0,
    )


def _carried_attachments(
    *, user, conversation: Conversation, ids: Sequence[uuid.UUID] | None, edit_of: Message | None
) -> list[Attachment]:
    """What the new user message carries: the attachments named, or (an edit naming none)
    the edited message's."""
    if ids is None and edit_of is not None:
        return [link.attachment for link in links_of(edit_of)]
    return attachments_for_send(user=user, conversation=conversation, attachment_ids=ids or ())


def _history_size(conversation: Conversation) -> tuple[int, int]:
    """The conversation's messages: their characters and their count. One query, however
    long the history."""
    # Plain SQL: building the ORM's aggregate costs several times what SQLite takes to run it.
    with connection.cursor() as cursor:
        conversation_id = _CONVERSATION_ID.get_db_prep_value(conversation.pk, connection)
        cursor.execute(_HISTORY_SIZE_SQL, [conversation_id])
        chars, count = cursor.fetchone()
    return chars or 0, count


def _reservation_estimate(
    conversation: Conversation,
    content: str,
    *,
    history_chars: int,
    history_count: int,
    attachment_tokens: int = 0,
) -> int:
    """What one model call of this turn may cost: the context it sends plus its answer.

    The context is counted as one token per character (the local estimate never exceeds
    that) plus each message's overhead, up to the LLM_CONTEXT_TOKENS it is trimmed to; the
    answer as its max_tokens. `history_*`: _history_size; `attachment_tokens`: the new
    message's attachments, whole.
    """
    context = (
        len(conversation.system_prompt)
        + history_chars
        + estimate_tokens(content)
        + attachment_tokens
        + MESSAGE_OVERHEAD_TOKENS * (history_count + 2)  # + system prompt and new message
    )
    max_tokens = conversation.max_tokens or settings.LLM_DEFAULT_MAX_TOKENS
    return min(context, settings.LLM_CONTEXT_TOKENS) + max_tokens


_HISTORY_SIZE_SQL = (
    f"SELECT SUM(LENGTH(content)), COUNT(*) FROM {Message._meta.db_table} "  # noqa: S608  # nosec B608: a table name, no value
    "WHERE conversation_id = %s"
)
_CONVERSATION_ID = Conversation._meta.pk


def _earlier_turn_of_client_id(
    *, user, conversation: Conversation | None, client_id
) -> Turn | None:
    """The turn a repeated client_id names. Without a conversation (POST /api/chat/), the
    client_id names the user's conversation that its first send started (another user's
    same client_id is theirs, not this one)."""
    if conversation is None:
        conversation = Conversation.objects.filter(owner=user, client_id=client_id).first()
        if conversation is None:
            return None
        earlier = _earlier_turn(conversation, client_id)
        if earlier is None:  # the conversation is there, its first turn was cleared
            raise InvalidInput(
                "This client_id started a conversation whose messages were cleared; "
                "send with a new client_id."
            )
        return earlier
    return _earlier_turn(conversation, client_id)


def _earlier_turn(conversation: Conversation, client_id) -> Turn | None:
    message = conversation.messages.filter(client_id=client_id).first()
    if message is None:
        return None
    if message.role == Message.Role.ASSISTANT:  # a regeneration: the client_id is its reply's
        return Turn(
            conversation=conversation,
            user_message=message.reply_to,
            reply=message,
            created=False,
        )
    reply = message.replies.order_by("created_at", "id").first()
    return Turn(conversation=conversation, user_message=message, reply=reply, created=False)


async def turn_stop(*, conversation: Conversation):
    """Ask the running turn of this conversation to stop; returns its reply's id, or None.

    The runner may live in another process; the request travels through the live store and
    the channel layer.
    """
    from assistant.db_threads import in_db_thread
    from assistant.live.stop import request_stop
    from assistant.reply_lifecycle import active_reply_id

    reply_id = await in_db_thread(active_reply_id)(conversation.pk)
    if reply_id is not None:
        await request_stop(reply_id)
    return reply_id
