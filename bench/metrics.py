"""From what the clients, the processes and the database recorded to the reported figures."""

import math
import re
import statistics
from typing import Any

from bench.server import TURN_TABLES
from bench.upstream import token


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _tokens_of(text: str, expected_tokens: list[str]) -> tuple[int, int]:
    """(missing, duplicated) tokens of a received text; every bench token is unique."""
    received = [" " + t for t in text.split(" ")[1:]] if text else []
    expected = set(expected_tokens)
    seen: dict[str, int] = {}
    for t in received:
        seen[t] = seen.get(t, 0) + 1
    missing = sum(1 for t in expected if t not in seen)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    return missing, duplicated


def client_side(clients: list[dict[str, Any]], tokens: int) -> dict[str, Any]:
    """Latency and correctness figures of one mode (kaiwa or direct) at one load level."""
    ttft = [c["first"] for c in clients if c["first"] is not None]
    total = [c["done"] for c in clients if c["done"] is not None]
    gaps = [b - a for c in clients for a, b in zip(c["arrivals"], c["arrivals"][1:], strict=False)]
    frames = [len(c["arrivals"]) for c in clients]
    expected_tokens = [token(i) for i in range(tokens)]
    errors: dict[str, int] = {}
    lost = duplicated = mismatched = 0
    delivered = 0
    for c in clients:
        if c["error"]:
            kind = re.sub(r"\d+(\.\d+)?", "N", c["error"].split(" (")[0])[:48]
            errors[kind] = errors.get(kind, 0) + 1
        if not c["text_ok"] or not c["final_ok"]:
            mismatched += 1
        missing, dup = (
            _tokens_of(c.get("text", ""), expected_tokens) if not c["text_ok"] else (0, 0)
        )
        lost += missing
        duplicated += dup
        delivered += tokens - missing
    phases = {}
    for name, start_key, end_key in (
        ("send_to_user_message", None, "user_message"),
        ("user_message_to_start", "user_message", "start"),
        ("start_to_first_delta", "start", "first"),
    ):
        values = [
            c[end_key] - (c[start_key] if start_key else 0.0)
            for c in clients
            if c.get(end_key) is not None and (start_key is None or c.get(start_key) is not None)
        ]
        if values:
            phases[name] = {"p50": percentile(values, 50), "p99": percentile(values, 99)}
    return {
        "ttft_phases": phases,
        "clients": len(clients),
        "finished": len(total),
        "ttft_p50": percentile(ttft, 50),
        "ttft_p99": percentile(ttft, 99),
        "ttft_max": max(ttft) if ttft else None,
        "gap_p50": percentile(gaps, 50),
        "gap_p99": percentile(gaps, 99),
        "gap_max": max(gaps) if gaps else None,
        "total_mean": statistics.fmean(total) if total else None,
        "total_p99": percentile(total, 99),
        "frames_per_reply_mean": statistics.fmean(frames) if frames else 0,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "mismatched_replies": mismatched,
        "lost_tokens": lost,
        "tokens_delivered": delivered,
        "duplicated_tokens": duplicated,
        "events_after_done": sum(c.get("late_events", 0) for c in clients),
        "clients_with_events_after_done": sum(1 for c in clients if c.get("late_events")),
        "sample_errors": sorted({c["error"] for c in clients if c["error"]})[:5],
    }


def compare(kaiwa: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    def diff(key):
        if kaiwa[key] is None or direct[key] is None:
            return None
        return kaiwa[key] - direct[key]

    return {
        "added_ttft_p50": diff("ttft_p50"),
        "added_ttft_p99": diff("ttft_p99"),
        "added_gap_p99": diff("gap_p99"),
        "total_ratio": (
            kaiwa["total_mean"] / direct["total_mean"]
            if kaiwa["total_mean"] and direct["total_mean"]
            else None
        ),
    }


# Writes of one turn besides the periodic flushes, from assistant/turns.py and runner.py:
# start (one transaction): INSERT user message, INSERT pending reply, UPDATE conversation
# (active_turn); finish (one transaction): UPDATE reply, UPDATE conversation.
FIXED_STATEMENTS = 5
FIXED_TRANSACTIONS = 2
# The target: at most 3 writes plus one per second of streaming.
TARGET_BASE = 3


def turn_writes(records: list[dict], table_writes: dict | None, n: int) -> dict[str, Any]:
    """Database writes per turn: from the runner's `turn_finished` lines, and from
    PostgreSQL's per-table counters when available."""
    turns = [r for r in records if r.get("message") == "turn_finished"]
    flushes = [int(r.get("db_flushes", 0)) for r in turns]
    seconds = [int(r.get("latency_ms", 0)) / 1000 for r in turns]
    statements = [FIXED_STATEMENTS + f for f in flushes]
    transactions = [FIXED_TRANSACTIONS + f for f in flushes]
    budget = [TARGET_BASE + math.ceil(s) for s in seconds]
    out: dict[str, Any] = {
        "turns_logged": len(turns),
        "turn_statuses": _count(r.get("status") for r in turns),
        "streaming_seconds_mean": statistics.fmean(seconds) if seconds else None,
        "flushes_mean": statistics.fmean(flushes) if flushes else None,
        "flushes_max": max(flushes) if flushes else None,
        "statements_mean": statistics.fmean(statements) if statements else None,
        "statements_max": max(statements) if statements else None,
        "transactions_mean": statistics.fmean(transactions) if transactions else None,
        "transactions_max": max(transactions) if transactions else None,
        "budget_mean": statistics.fmean(budget) if budget else None,
        "turns_over_budget_statements": sum(
            1 for s, b in zip(statements, budget, strict=True) if s > b
        ),
        "turns_over_budget_transactions": sum(
            1 for t, b in zip(transactions, budget, strict=True) if t > b
        ),
        "flushes_over_one_per_second": sum(
            1 for f, s in zip(flushes, seconds, strict=True) if f > math.ceil(s)
        ),
        "source": "turn_finished log (db_flushes) + fixed writes of a turn",
    }
    if table_writes is not None:
        rows = {
            table: counts
            for table, counts in table_writes.items()
            if counts["ins"] or counts["upd"] or counts["del"]
        }
        turn_rows = sum(
            rows.get(t, {}).get("ins", 0) + rows.get(t, {}).get("upd", 0) for t in TURN_TABLES
        )
        out["pg_rows_written"] = rows
        out["pg_rows_per_turn"] = turn_rows / n if n else None
        # The log can miss at most one flush per turn: a flush still running when the
        # turn ends is cancelled before it is counted, but its UPDATE completes.
        out["pg_matches_log"] = 0 <= turn_rows - sum(statements) <= len(turns) and len(turns) == n
        out["source"] = (
            "PostgreSQL pg_stat_user_tables (rows inserted+updated), checked against the log"
        )
    errors = [
        r
        for r in records
        if r.get("level") in ("ERROR", "CRITICAL") or "Traceback" in r.get("raw", "")
    ]
    out["server_error_lines"] = len(errors)
    out["sample_server_errors"] = [r.get("message") or r.get("raw") for r in errors[:5]]
    return out


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts
