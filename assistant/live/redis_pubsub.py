"""Where channels-redis's pub/sub layer broadcasts a group, so one Redis pipeline can append
an event to its reply's log and broadcast it.

One round trip instead of two, and no wait for the layer's single lock per process, which
every other reply's broadcast holds for its own round trip. Subscribers of the group, in any
process, receive the message through the layer as any group message. This is the one module
that reads names channels-redis keeps private (`_get_layer`, `_shards`,
`_get_group_channel_name`; the version is pinned in requirements.txt);
tests/assistant/test_live.py checks that a message published here reaches a layer member.
"""

from django.conf import settings


def group_channel_on_store(layer, group: str) -> str | None:
    """The Redis channel of `group`, when `layer` carries groups on the one Redis server of
    the live store (REDIS_URL, as config/settings.py sets it up); None otherwise."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    loop_layer = layer._get_layer()
    shards = loop_layer._shards
    if len(shards) != 1 or shards[0].host.get("address") != settings.REDIS_URL:
        return None
    return loop_layer._get_group_channel_name(group)
