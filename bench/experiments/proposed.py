"""All proposals measurable without editing Kaiwa: the light stream decoder and, with
Redis, the pub/sub channel layer. Run with a wider coalescing window too:

    python -m bench --settings bench.experiments.proposed --server-env STREAM_COALESCE_MS=50
"""

from bench.experiments.light_stream import *  # noqa: F403
from bench.experiments.light_stream import LLM_BACKEND  # noqa: F401
from bench.experiments.pubsub import *  # noqa: F403
