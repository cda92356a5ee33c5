"""The channel-layer groups of the live path."""


def conversation_group(conversation_id) -> str:
    """The group that carries a conversation's reply events to other processes."""
    return f"conversation.{conversation_id}"


def control_group(message_id) -> str:
    """The group the runner of one reply listens on for `stop`."""
    return f"turn-control.{message_id}"


def user_events_group(user_id) -> str:
    """The group of a user's open sockets (any page), for events about the user's things
    rather than one conversation: image jobs, titles written in the background
    (assistant/user_events.py)."""
    return f"user-events.{user_id}"
