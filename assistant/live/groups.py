"""The channel-layer groups of the live path."""


def conversation_group(conversation_id) -> str:
    """The group that carries a conversation's reply events to other processes."""
    return f"conversation.{conversation_id}"


def control_group(message_id) -> str:
    """The group the runner of one reply listens on for `stop`."""
    return f"turn-control.{message_id}"


def user_events_group(user_id) -> str:
    """The group of a user's conversation sockets, for news about any of their conversations
    (a title written in the background), so every open tab's sidebar follows."""
    return f"user.{user_id}.events"
