"""Prometheus metrics of turns and model calls (one registry per process; scrape each)."""

from prometheus_client import Counter, Gauge, Histogram

ACTIVE_TURNS = Gauge("kaiwa_active_turns", "Turns being generated in this process.")
TIME_TO_FIRST_TOKEN = Histogram(
    "kaiwa_time_to_first_token_seconds",
    "From the start of a turn to its first text delta.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
TOKENS_RELAYED = Counter(
    "kaiwa_tokens_relayed_total", "Completion tokens streamed to clients (provider usage)."
)
DELTA_EVENTS = Counter("kaiwa_delta_events_total", "Coalesced text events published.")
TURNS_FINISHED = Counter("kaiwa_turns_finished_total", "Turns by final status.", ["status"])
UPSTREAM_ERRORS = Counter(
    "kaiwa_upstream_errors_total", "Model calls that failed after retries, by API code.", ["code"]
)
UPSTREAM_RETRIES = Counter("kaiwa_upstream_retries_total", "Retries the SDK made.")
