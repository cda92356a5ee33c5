"""Reading a conversation's message tree: paths, leaves and the positions of versions.

Users' messages and replies are the tree's nodes (`Message.parent`); a message's siblings are
the messages with the same parent, in creation order, so an edit or a regeneration is the
next version of what it replaces. The conversation's `active_leaf` ends the active path
(root → leaf): what the chat shows, what exports and lists give by default, and what the
model sees. Tool-call and tool-result messages are not nodes: they belong to the reply that
made them (`Message.turn_reply`) and come right before it on a path.

A conversation whose `active_leaf` is unset while it has messages reads as if its newest
message were the leaf.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from conversations.models import Conversation, Message


@dataclass(frozen=True, slots=True)
class Position:
    """A message among its versions: `index` (0-based, by creation) of `count`."""

    index: int
    count: int


_ALONE = Position(0, 1)
# A message that is the only version at its place, such as a conversation's first one.
FIRST_POSITION = _ALONE


class MessageTree:
    """The shape of one conversation's tree, from its messages' ids and links alone."""

    def __init__(self, rows: Iterable[tuple[Any, Any, Any]]) -> None:
        """`rows`: (id, parent_id, turn_reply_id) of every message, in creation order."""
        self.parent_of: dict[Any, Any] = {}
        self.children: dict[Any, list] = defaultdict(list)
        self.tools_of: dict[Any, list] = defaultdict(list)
        self.newest = None
        for pk, parent_id, turn_reply_id in rows:
            if turn_reply_id is not None:
                self.tools_of[turn_reply_id].append(pk)
                continue
            self.parent_of[pk] = parent_id
            self.children[parent_id].append(pk)
            self.newest = pk

    @classmethod
    def of(cls, conversation_id) -> MessageTree:
        """The tree of a conversation (one query of ids)."""
        rows = (
            Message.objects.filter(conversation_id=conversation_id)
            .order_by("created_at", "id")
            .values_list("id", "parent_id", "turn_reply_id")
        )
        return cls(rows)

    @classmethod
    def of_messages(cls, messages: Iterable[Message]) -> MessageTree:
        """The tree of messages already read, in creation order."""
        return cls((m.pk, m.parent_id, m.turn_reply_id) for m in messages)

    def __contains__(self, message_id) -> bool:
        return message_id in self.parent_of

    def leaf(self, active_leaf_id) -> Any:
        """The active path's end: the stored leaf, or the newest message without one."""
        return active_leaf_id if active_leaf_id in self.parent_of else self.newest

    def path(self, leaf_id) -> list:
        """The ids from the root down to `leaf_id` (empty for None or an unknown id)."""
        path = []
        seen = set()
        node = leaf_id
        while node is not None and node in self.parent_of and node not in seen:
            seen.add(node)  # a cycle cannot be stored by Kaiwa; never loop on one anyway
            path.append(node)
            node = self.parent_of[node]
        path.reverse()
        return path

    def path_with_tools(self, leaf_id) -> list:
        """`path`, with each reply's tool messages right before it."""
        ids = []
        for node in self.path(leaf_id):
            ids += self.tools_of.get(node, [])
            ids.append(node)
        return ids

    def newest_leaf_under(self, message_id) -> Any:
        """Down from `message_id`, always to the newest child, to a message without any."""
        node = message_id
        while self.children.get(node):
            node = self.children[node][-1]
        return node

    def position(self, message_id) -> Position:
        """Where a message stands among its versions (tool messages stand alone)."""
        if message_id not in self.parent_of:
            return _ALONE
        siblings = self.children[self.parent_of[message_id]]
        return Position(siblings.index(message_id), len(siblings))

    def annotate(self, messages: Iterable[Message]) -> None:
        """Give each message its `tree_position`, read by the serializers and the page."""
        for message in messages:
            message.tree_position = self.position(message.pk)


def position_of(message: Message) -> Position:
    """A message's position: the one `MessageTree.annotate` gave it, else read now."""
    known = getattr(message, "tree_position", None)
    if known is not None:
        return known
    if message.turn_reply_id is not None:
        return _ALONE
    siblings = list(
        Message.objects.filter(
            conversation_id=message.conversation_id,
            parent_id=message.parent_id,
            turn_reply__isnull=True,
        )
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    if message.pk not in siblings:  # not stored yet
        return _ALONE
    message.tree_position = Position(siblings.index(message.pk), len(siblings))
    return message.tree_position


def active_leaf_id(conversation: Conversation):
    """The id of the conversation's active leaf (its newest message if none is stored), or
    None when it has no messages. At most one query."""
    if conversation.active_leaf_id is not None:
        return conversation.active_leaf_id
    return (
        conversation.messages.filter(turn_reply__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )


def active_path(conversation: Conversation, *, leaf_id=None) -> list[Message]:
    """The messages from the root to the active leaf (or to `leaf_id`), each reply preceded
    by its tool messages, annotated with their positions. One query."""
    messages = list(conversation.messages.order_by("created_at", "id"))
    return path_among(messages, leaf_id=leaf_id or conversation.active_leaf_id)


def path_among(messages: Sequence[Message], *, leaf_id) -> list[Message]:
    """`active_path` over messages already read (all of a conversation's, creation order)."""
    tree = MessageTree.of_messages(messages)
    by_id = {m.pk: m for m in messages}
    path = [by_id[pk] for pk in tree.path_with_tools(tree.leaf(leaf_id))]
    tree.annotate(path)
    return path


def path_before(reply: Message) -> list[Message]:
    """The messages before `reply` on its path (what the model sees for it), root first,
    each earlier reply after its tool calls and results. One query."""
    if reply.parent_id is None:
        return []
    messages = list(
        Message.objects.filter(conversation_id=reply.conversation_id)
        .exclude(pk=reply.pk)
        .order_by("created_at", "id")
    )
    return path_among(messages, leaf_id=reply.parent_id)


def whole_tree(conversation: Conversation) -> list[Message]:
    """Every message of the conversation in creation order, annotated with positions."""
    messages = list(conversation.messages.order_by("created_at", "id"))
    MessageTree.of_messages(messages).annotate(messages)
    return messages
