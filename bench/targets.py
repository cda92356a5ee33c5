"""The relay's targets, judged on paired runs of Kaiwa and the floor (`python -m bench --targets`).

Kaiwa is judged against its own stack: `bench.floor` serves the same WebSocket turn on the
same daphne, Channels and SDK with none of Kaiwa's work. For each load level N, Kaiwa and
the floor are measured alternately in pairs (pair 1 Kaiwa first, pair 2 the floor first, …)
so that a machine drifting over time weighs on both alike. Each target compares the medians
over the pairs of one figure of each side:

- added TTFT p50 / p99: the side's TTFT minus that of reading the same streams directly
  from the upstream, in the same run, at the same percentile;
- CPU per token: the daphne process's user + system time over the load, per token relayed.

Everything here is pure: it reads the levels `bench.run` measured and returns figures.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SIDES = ("kaiwa", "floor")
TARGET_NS = (1, 50, 200)
PAIRS = 3

# The figures a target can use, read from one measured level (seconds; CPU in ms per token).
METRICS: dict[str, Callable[[dict], float | None]] = {
    "added_ttft_p50": lambda level: level["added"]["added_ttft_p50"],
    "added_ttft_p99": lambda level: level["added"]["added_ttft_p99"],
    # CPU seconds per 1,000 tokens is CPU milliseconds per token.
    "cpu_ms_per_token": lambda level: level["cpu"]["daphne_per_1000_tokens"],
}


@dataclass(frozen=True)
class Target:
    n: int
    metric: str
    # "at_most": Kaiwa ≤ limit; "times_floor": Kaiwa ≤ limit × floor;
    # "plus_floor": Kaiwa ≤ floor + limit.
    rule: str
    limit: float
    text: str

    def bound(self, floor: float | None) -> float | None:
        """The value Kaiwa's median must not exceed (None when the floor's is missing)."""
        if self.rule == "at_most":
            return self.limit
        if floor is None:
            return None
        if self.rule == "times_floor":
            return self.limit * floor
        if self.rule == "plus_floor":
            return floor + self.limit
        raise ValueError(f"unknown rule {self.rule!r}")


TARGETS = (
    Target(1, "added_ttft_p50", "at_most", 0.005, "added TTFT p50 ≤ 5 ms"),
    Target(50, "cpu_ms_per_token", "times_floor", 1.3, "CPU per token ≤ 1.3 × the floor's"),
    Target(50, "added_ttft_p99", "plus_floor", 0.050, "added TTFT p99 ≤ the floor's + 50 ms"),
    Target(200, "added_ttft_p99", "times_floor", 1.5, "added TTFT p99 ≤ 1.5 × the floor's"),
)


def order(pair: int) -> tuple[str, str]:
    """Which side a pair measures first: Kaiwa in pairs 1, 3, …; the floor in 2, 4, …"""
    return SIDES if pair % 2 == 1 else SIDES[::-1]


def run_pairs(
    ns: list[int],
    pairs: int,
    measure: Callable[[str, int, int], dict],
    failed: tuple[type[BaseException], ...] = (RuntimeError, OSError),
) -> tuple[list[dict], list[str]]:
    """Measure `pairs` pairs at each N: `measure(side, n, pair)` returns one level.

    A measurement that raises one of `failed` leaves its side of the pair empty (None) and is
    listed in the failures; the other measurements go on.
    """
    records = []
    failures = []
    for n in ns:
        for pair in range(1, pairs + 1):
            record: dict[str, Any] = {"n": n, "pair": pair, "first": order(pair)[0]}
            for side in order(pair):
                try:
                    record[side] = measure(side, n, pair)
                except failed as exc:
                    failures.append(f"N={n}, pair {pair}, {side}: {exc}")
                    record[side] = None
            records.append(record)
    return records, failures


def level_problems(level: dict) -> int:
    """Client errors, lost or duplicated tokens, replies that differ (streamed or stored),
    and server error lines of one measured level: 0 for a clean run."""
    k = level["kaiwa"]  # the clients' side of the run, whichever server they talked to
    return (
        k["errors"]
        + k["lost_tokens"]
        + k["duplicated_tokens"]
        + k["mismatched_replies"]
        + level["stored"]["replies_not_equal_to_stream"]
        + level["db"]["server_error_lines"]
    )


def pair_figures(record: dict) -> dict[str, dict[str, float | None]] | None:
    """Every metric of both sides of one pair; None unless both sides were measured."""
    if any(record.get(side) is None for side in SIDES):
        return None
    return {side: {name: read(record[side]) for name, read in METRICS.items()} for side in SIDES}


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(records: list[dict], contended: Callable[[dict], bool]) -> list[dict]:
    """Per N, the medians of each side's figures over the complete pairs.

    `contended(level)` says whether other work on the machine disturbed a measurement.
    """
    out = []
    for n in sorted({r["n"] for r in records}):
        at_n = [r for r in records if r["n"] == n]
        complete = [(r, f) for r in at_n if (f := pair_figures(r)) is not None]
        medians = {
            side: {name: _median([f[side][name] for _, f in complete]) for name in METRICS}
            for side in SIDES
        }
        out.append(
            {
                "n": n,
                "pairs": len(complete),
                "pairs_attempted": len(at_n),
                "median": medians,
                "contended_pairs": sum(
                    1 for r, _ in complete if any(contended(r[side]) for side in SIDES)
                ),
                "problems": {
                    side: sum(level_problems(r[side]) for r in at_n if r.get(side) is not None)
                    for side in SIDES
                },
            }
        )
    return out


def verdicts(summary: list[dict], targets: tuple[Target, ...] = TARGETS) -> list[dict]:
    """One verdict per target: Kaiwa's median, the floor's, the bound, their ratio, met.

    `met` is None when the level was not measured (no complete pair).
    """
    by_n = {s["n"]: s for s in summary}
    out = []
    for target in targets:
        level = by_n.get(target.n)
        kaiwa = floor = bound = ratio = None
        if level is not None and level["pairs"]:
            kaiwa = level["median"]["kaiwa"][target.metric]
            floor = level["median"]["floor"][target.metric]
            bound = target.bound(floor)
            if kaiwa is not None and floor is not None and floor > 0:
                ratio = kaiwa / floor
        met = None if kaiwa is None or bound is None else kaiwa <= bound
        out.append(
            {
                "target": target.text,
                "n": target.n,
                "metric": target.metric,
                "rule": target.rule,
                "limit": target.limit,
                "kaiwa": kaiwa,
                "floor": floor,
                "bound": bound,
                "ratio": ratio,
                "met": met,
                "pairs": level["pairs"] if level else 0,
                "contended_pairs": level["contended_pairs"] if level else 0,
                "problems": level["problems"] if level else None,
            }
        )
    return out
