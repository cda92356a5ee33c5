"""`python -m bench --targets` end to end, scaled down: real daphne processes serving Kaiwa and
the floor, the fake upstream, the load clients, the report on disk (about 30-50 s)."""

import subprocess

import pytest

from bench.server import ROOT
from tests.bench.runs import run_bench

pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(170)]

TOKENS = 8


def test_targets_run_pairs_kaiwa_with_the_floor_and_reports_the_verdicts(tmp_path):
    result = run_bench(
        tmp_path,
        "--targets",
        "--n",
        "1,2",
        "--pairs",
        "1",
        tokens=TOKENS,
        report="targets-latest.json",
        timeout=160,
    )
    assert result["failures"] == []
    assert result["settings"]["pairs"] == 1
    assert result["settings"]["n"] == [1, 2]
    assert [(r["n"], r["pair"], r["first"]) for r in result["pairs"]] == [
        (1, 1, "kaiwa"),
        (2, 1, "kaiwa"),
    ]
    for record in result["pairs"]:
        n = record["n"]
        for side in ("kaiwa", "floor"):
            clients = record[side]["kaiwa"]  # the clients of that side's WebSocket turns
            assert (clients["finished"], clients["errors"], clients["lost_tokens"]) == (n, 0, 0)
            assert clients["tokens_delivered"] == n * TOKENS
            assert record[side]["cpu"]["daphne_per_1000_tokens"] is not None
        # Kaiwa stored every reply; the floor, which has no database work, none.
        assert record["kaiwa"]["stored"]["reply_statuses"] == {"complete": n}
        assert record["floor"]["stored"]["replies"] == 0

    verdicts = {(v["n"], v["metric"]): v for v in result["verdicts"]}
    at_one = verdicts[(1, "added_ttft_p50")]
    assert at_one["pairs"] == 1
    assert at_one["kaiwa"] == result["pairs"][0]["kaiwa"]["added"]["added_ttft_p50"]
    assert at_one["floor"] == result["pairs"][0]["floor"]["added"]["added_ttft_p50"]
    assert at_one["met"] is (at_one["kaiwa"] <= 0.005)
    assert verdicts[(200, "added_ttft_p99")]["met"] is None  # not run at this scale

    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert result["code"]["commit"] == head
    assert result["machine"]["cores"] >= 1 and result["machine"]["python"]

    markdown = (tmp_path / "targets-latest.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Kaiwa against the floor: the relay's targets")
    assert f"Code: commit {head}" in markdown
    assert "| added TTFT p50 ≤ 5 ms | 1 |" in markdown
    correct = "| no errors, lost tokens or differing replies, in every run | 2 | 0 | 0 | 0 |"
    assert correct in markdown
