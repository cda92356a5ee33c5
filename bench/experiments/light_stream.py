"""Proposal: decode the upstream's stream without the SDK's per-chunk pydantic models.

See bench/experiments/light_backend.py.
"""

from config.settings import *  # noqa: F403
from config.settings import LLM_BACKEND

if LLM_BACKEND.get("BACKEND") == "assistant.backends.openai.OpenAIBackend":
    LLM_BACKEND = {
        **LLM_BACKEND,
        "BACKEND": "bench.experiments.light_backend.LightStreamOpenAIBackend",
    }
