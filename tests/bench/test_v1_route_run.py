"""`python -m bench --route v1` end to end, scaled down: a real daphne serving Kaiwa's
OpenAI-compatible route, the fake upstream, the load clients, the report on disk
(about 10-20 s)."""

import pytest

from tests.bench.runs import run_bench

pytestmark = [pytest.mark.multiprocess, pytest.mark.timeout(120)]

TOKENS = 6
N = 2


def test_v1_route_streams_every_reply_whole_and_the_report_names_the_route(tmp_path):
    result = run_bench(
        tmp_path,
        "--route",
        "v1",
        "--n",
        str(N),
        "--attempts",
        "1",
        tokens=TOKENS,
        report="latest.json",
        timeout=110,
    )
    assert result["failures"] == []
    assert result["settings"]["route"] == "v1"
    [level] = result["configs"][0]["levels"]
    for side in ("direct", "kaiwa"):  # the same SSE client read both
        clients = level[side]
        assert (clients["finished"], clients["errors"], clients["lost_tokens"]) == (N, 0, 0)
        assert clients["tokens_delivered"] == N * TOKENS
    # What Kaiwa relayed is what it stored, in each client's own conversation.
    assert level["stored"]["reply_statuses"] == {"complete": N}
    assert level["stored"]["replies_not_equal_to_stream"] == 0
    assert level["stored"]["conversations"] == N
    assert level["added"]["added_ttft_p50"] is not None

    markdown = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "Route measured: `v1`" in markdown
    assert "DB writes per turn" not in markdown.split("## Targets")[1].split("##")[0]
