"""The relay's targets on paired runs: the pairs' order, the medians, the verdicts."""

import pytest

from bench import targets


def level(p50=0.004, p99=0.010, cpu=0.40, *, errors=0, lost=0, differ=0, other_cores=0.0):
    """A measured level as bench.run reports it, with only the figures the targets read."""
    return {
        "added": {"added_ttft_p50": p50, "added_ttft_p99": p99},
        "cpu": {
            "daphne_per_1000_tokens": cpu,
            "other_cores_during_kaiwa": other_cores,
            "other_cores_during_direct": 0.0,
        },
        "kaiwa": {
            "errors": errors,
            "lost_tokens": lost,
            "duplicated_tokens": 0,
            "mismatched_replies": 0,
        },
        "stored": {"replies_not_equal_to_stream": differ},
        "db": {"server_error_lines": 0},
    }


def pair(n, number, kaiwa, floor):
    return {
        "n": n,
        "pair": number,
        "first": targets.order(number)[0],
        "kaiwa": kaiwa,
        "floor": floor,
    }


def never_contended(_level):
    return False


def test_the_targets_are_the_relays():
    assert {(t.n, t.metric, t.rule, t.limit) for t in targets.TARGETS} == {
        (1, "added_ttft_p50", "at_most", 0.005),
        (50, "cpu_ms_per_token", "times_floor", 1.3),
        (50, "added_ttft_p99", "plus_floor", 0.050),
        (200, "added_ttft_p99", "times_floor", 1.5),
    }
    assert targets.TARGET_NS == (1, 50, 200)
    assert targets.PAIRS == 3


def test_pairs_alternate_which_side_goes_first():
    assert [targets.order(p) for p in (1, 2, 3, 4)] == [
        ("kaiwa", "floor"),
        ("floor", "kaiwa"),
        ("kaiwa", "floor"),
        ("floor", "kaiwa"),
    ]


def test_run_pairs_measures_in_alternating_order_and_keeps_going_after_a_failure():
    calls = []

    def measure(side, n, number):
        calls.append((n, number, side))
        if (side, n, number) == ("floor", 50, 2):
            raise RuntimeError("daphne did not become healthy")
        return {"side": side, "n": n, "pair": number}

    records, failures = targets.run_pairs([1, 50], 3, measure)

    assert calls == [
        (1, 1, "kaiwa"), (1, 1, "floor"),
        (1, 2, "floor"), (1, 2, "kaiwa"),
        (1, 3, "kaiwa"), (1, 3, "floor"),
        (50, 1, "kaiwa"), (50, 1, "floor"),
        (50, 2, "floor"), (50, 2, "kaiwa"),
        (50, 3, "kaiwa"), (50, 3, "floor"),
    ]  # fmt: skip
    assert [(r["n"], r["pair"], r["first"]) for r in records] == [
        (1, 1, "kaiwa"), (1, 2, "floor"), (1, 3, "kaiwa"),
        (50, 1, "kaiwa"), (50, 2, "floor"), (50, 3, "kaiwa"),
    ]  # fmt: skip
    failed = records[4]
    assert failed["floor"] is None
    assert failed["kaiwa"] == {"side": "kaiwa", "n": 50, "pair": 2}
    assert failures == ["N=50, pair 2, floor: daphne did not become healthy"]


def test_run_pairs_lets_unexpected_errors_through():
    def measure(side, n, number):
        raise KeyError("a bug, not a failed measurement")

    with pytest.raises(KeyError):
        targets.run_pairs([1], 1, measure)


def test_summary_is_the_median_of_each_side_over_the_complete_pairs():
    records = [
        # Skewed on purpose: each median differs from the mean.
        pair(50, 1, level(0.010, 0.100, 0.50), level(0.002, 0.030, 0.40)),
        pair(50, 2, level(0.090, 0.900, 0.90), level(0.016, 0.000, 0.10)),
        pair(50, 3, level(0.020, 0.200, 0.60), level(0.004, 0.020, 0.35)),
        # A failed side: its pair counts for neither side's median.
        pair(50, 4, level(9.0, 9.0, 9.0), None),
        pair(200, 1, level(1.0, 2.0, 0.2), level(0.5, 1.0, 0.1)),
        pair(200, 2, level(3.0, 4.0, 0.4), level(0.7, 1.2, 0.3)),
    ]

    by_n = {s["n"]: s for s in targets.summarize(records, never_contended)}

    at50 = by_n[50]
    assert (at50["pairs"], at50["pairs_attempted"]) == (3, 4)
    assert at50["median"]["kaiwa"] == {
        "added_ttft_p50": 0.020,
        "added_ttft_p99": 0.200,
        "cpu_ms_per_token": 0.60,
    }
    assert at50["median"]["floor"] == {
        "added_ttft_p50": 0.004,
        "added_ttft_p99": 0.020,
        "cpu_ms_per_token": 0.35,
    }
    # Two pairs: the median is the mean of the two.
    assert by_n[200]["median"]["kaiwa"]["added_ttft_p99"] == pytest.approx(3.0)
    assert by_n[200]["median"]["floor"]["cpu_ms_per_token"] == pytest.approx(0.2)


def test_summary_counts_disturbed_pairs_and_every_runs_problems():
    records = [
        pair(1, 1, level(other_cores=1.5), level()),
        pair(1, 2, level(lost=3), level(errors=1, differ=2)),
        pair(1, 3, level(), level()),
    ]

    [summary] = targets.summarize(
        records, contended=lambda lv: lv["cpu"]["other_cores_during_kaiwa"] > 0.3
    )

    assert summary["contended_pairs"] == 1
    assert summary["problems"] == {"kaiwa": 3, "floor": 3}


def summary_at(n, kaiwa, floor, pairs=3):
    return {
        "n": n,
        "pairs": pairs,
        "pairs_attempted": 3,
        "median": {"kaiwa": kaiwa, "floor": floor},
        "contended_pairs": 0,
        "problems": {"kaiwa": 0, "floor": 0},
    }


def figures(p50=None, p99=None, cpu=None):
    return {"added_ttft_p50": p50, "added_ttft_p99": p99, "cpu_ms_per_token": cpu}


def verdicts_for(summary):
    return {(v["n"], v["metric"]): v for v in targets.verdicts(summary)}


def test_verdicts_met_within_each_bound():
    summary = [
        summary_at(1, figures(p50=0.005), figures(p50=0.002)),
        summary_at(50, figures(p99=0.080, cpu=0.52), figures(p99=0.030, cpu=0.40)),
        summary_at(200, figures(p99=1.5), figures(p99=1.0)),
    ]

    v = verdicts_for(summary)

    assert v[(1, "added_ttft_p50")]["met"] is True  # 5 ms is within 5 ms
    assert v[(1, "added_ttft_p50")]["bound"] == 0.005
    assert v[(1, "added_ttft_p50")]["ratio"] == pytest.approx(2.5)
    assert v[(50, "cpu_ms_per_token")]["met"] is True
    assert v[(50, "cpu_ms_per_token")]["bound"] == pytest.approx(0.52)
    assert v[(50, "cpu_ms_per_token")]["ratio"] == pytest.approx(1.3)
    assert v[(50, "added_ttft_p99")]["met"] is True
    assert v[(50, "added_ttft_p99")]["bound"] == pytest.approx(0.080)
    assert v[(200, "added_ttft_p99")]["met"] is True
    assert v[(200, "added_ttft_p99")]["bound"] == pytest.approx(1.5)
    assert v[(200, "added_ttft_p99")]["ratio"] == pytest.approx(1.5)


def test_verdicts_not_met_just_past_each_bound():
    summary = [
        summary_at(1, figures(p50=0.0051), figures(p50=0.0001)),
        summary_at(50, figures(p99=0.0811, cpu=0.53), figures(p99=0.031, cpu=0.40)),
        summary_at(200, figures(p99=1.51), figures(p99=1.0)),
    ]

    v = verdicts_for(summary)

    assert [v[k]["met"] for k in sorted(v)] == [False, False, False, False]
    assert v[(50, "cpu_ms_per_token")]["ratio"] == pytest.approx(1.325)
    assert v[(50, "added_ttft_p99")]["kaiwa"] == 0.0811
    assert v[(50, "added_ttft_p99")]["floor"] == 0.031


def test_a_level_not_measured_has_no_verdict_and_no_ratio_without_a_positive_floor():
    summary = [summary_at(50, figures(p99=0.010, cpu=0.4), figures(p99=-0.002, cpu=0.4))]

    v = verdicts_for(summary)

    assert v[(1, "added_ttft_p50")]["met"] is None
    assert v[(1, "added_ttft_p50")]["pairs"] == 0
    assert v[(200, "added_ttft_p99")]["met"] is None
    # The floor added less than direct reading: no ratio, but the bound still applies.
    assert v[(50, "added_ttft_p99")]["ratio"] is None
    assert v[(50, "added_ttft_p99")]["bound"] == pytest.approx(0.048)
    assert v[(50, "added_ttft_p99")]["met"] is True


def test_a_level_whose_pairs_all_failed_is_not_judged():
    summary = [summary_at(200, figures(), figures(), pairs=0)]

    assert verdicts_for(summary)[(200, "added_ttft_p99")]["met"] is None
