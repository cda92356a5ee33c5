"""The proposals measurable without editing Kaiwa, together: the light stream decoder
(light_stream) and finished followers kept (keep_finished). Run it with a wider coalescing
window too:

    python -m bench --settings bench.experiments.proposed --server-env STREAM_COALESCE_MS=50
"""

from bench.experiments.keep_finished import *  # noqa: F403
from bench.experiments.keep_finished import INSTALLED_APPS  # noqa: F401
from bench.experiments.light_stream import LLM_BACKEND  # noqa: F401
