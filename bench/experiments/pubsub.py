"""Redis pub/sub channel layer instead of channels_redis's list-based one.

channels_redis's `RedisChannelLayer` costs four Redis round trips per `group_send` and
receives one message per round trip per process; `RedisPubSubChannelLayer` publishes a
group message with one PUBLISH and has messages pushed to the subscriber. It keeps no
queue (at-most-once delivery), which Kaiwa tolerates: a reader that misses an event
fills the gap from the reply's event log (assistant/live.py, ReplyFollower).
"""

from config.settings import *  # noqa: F403
from config.settings import REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
