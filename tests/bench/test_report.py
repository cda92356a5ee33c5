"""The targets report: verdicts with their numbers, every pair, the machine and the commit."""

import json
import subprocess

import pytest

from bench import procs, report, targets
from tests.bench.test_targets import level, pair

MACHINE = {
    "cpu": "AMD EPYC 7B13",
    "cores": 2,
    "ram_gib": 23.5,
    "os": "Debian GNU/Linux 12 (bookworm)",
    "kernel": "6.18.44",
    "python": "3.12.1",
    "postgresql": "15.20",
    "redis": "7.0.15",
    "load_average_at_start": ["0.10", "0.20", "0.30"],
    "executable": "/usr/bin/python3",
}


def paired_result(code=None, failures=()):
    records = [
        pair(1, 1, level(p50=0.003), level(p50=0.002)),
        pair(1, 2, level(p50=0.004), level(p50=0.001)),
        pair(1, 3, level(p50=0.008), level(p50=0.006)),
        # Skewed on purpose: each median differs from the mean.
        pair(50, 1, level(p99=0.100, cpu=0.50), level(p99=0.030, cpu=0.40)),
        # Disturbed by other work on the machine (more than 0.3 cores).
        pair(50, 2, level(p99=0.600, cpu=0.95, other_cores=1.2), level(p99=0.010, cpu=0.30)),
        pair(50, 3, level(p99=0.200, cpu=0.60), level(p99=0.020, cpu=0.35)),
        pair(200, 1, level(p99=1.2), None),
    ]
    result = {
        "started": "2026-12-01T15:00:00+00:00",
        "finished": "2026-12-01T15:12:00+00:00",
        "machine": MACHINE,
        "code": code or {"commit": "abc1234", "dirty": False, "uncommitted_files": []},
        "settings": {
            "n": [1, 50, 200],
            "tokens": 100,
            "interval_ms": 20.0,
            "ramp_ms": 1000.0,
            "load_procs": 1,
            "label": "",
            "quiet_cores": 0.3,
            "pinned": True,
            "pairs": 3,
        },
        "configs": [
            {"label": "1 daphne process pinned to a core, SQLite + in-memory layer"},
            {"label": "floor (no Kaiwa): 1 daphne process …", "floor": True},
        ],
        "failures": list(failures),
        "pairs": records,
    }
    result["summary"] = targets.summarize(records, lambda lv: report.contended(lv, result))
    result["verdicts"] = targets.verdicts(result["summary"])
    return result


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of each body row of the table under `## heading`."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_report_names_the_machine_and_the_commit():
    md = report.targets_markdown(paired_result())

    assert (
        "Machine: AMD EPYC 7B13, 2 cores, 23.5 GiB RAM, Debian GNU/Linux 12 (bookworm), "
        "Linux 6.18.44, Python 3.12.1," in md
    )
    assert "Code: commit abc1234, clean working tree." in md
    assert "at each N (1, 50, 200), 3 pair(s) of runs" in md
    assert "100 tokens at 20 ms intervals (2 s of streaming)" in md


def test_report_flags_a_dirty_tree():
    code = {"commit": "abc1234", "dirty": True, "uncommitted_files": ["assistant/runner.py"]}

    md = report.targets_markdown(paired_result(code=code))

    assert "Code: commit abc1234, **dirty tree**: uncommitted changes in 1 file(s) (" in md
    assert "assistant/runner.py" in md
    assert "clean working tree" not in md


def test_report_gives_each_target_its_numbers_ratio_and_verdict():
    rows = table_rows(report.targets_markdown(paired_result()), "Targets")

    assert rows[:4] == [
        ["added TTFT p50 ≤ 5 ms", "1", "+4.0 ms", "+2.0 ms", "≤ 5.0 ms", "2.00", "3", "yes"],
        # Medians 0.60 and 0.35 ms: 1.71 × the floor's, past 1.3 × 0.35 = 0.455.
        [
            "CPU per token ≤ 1.3 × the floor's",
            "50",
            "0.600 ms",
            "0.350 ms",
            "≤ 0.455 ms",
            "1.71",
            "3 (1 †)",
            "**no**",
        ],
        [
            "added TTFT p99 ≤ the floor's + 50 ms",
            "50",
            "+200.0 ms",
            "+20.0 ms",
            "≤ 70.0 ms",
            "10.00",
            "3 (1 †)",
            "**no**",
        ],
        # N = 200's only pair lost its floor run: nothing to judge.
        ["added TTFT p99 ≤ 1.5 × the floor's", "200", "–", "–", "≤ –", "–", "0", "not measured"],
    ]
    correctness = {row[1]: row for row in rows[4:]}
    assert correctness["1"][2:] == ["0", "0", "0", "–", "3 of 3", "yes"]
    # A measurement that failed is a run that did not deliver every reply.
    assert correctness["200"][-2:] == ["0 of 1", "**no**"]


def test_report_lists_the_medians_and_every_pair_in_its_order():
    result = paired_result(failures=["N=200, pair 1, floor: daphne exited early"])
    md = report.targets_markdown(result)

    medians = {row[0]: row for row in table_rows(md, "Medians, Kaiwa / floor")}
    assert medians["50"] == [
        "50",
        "3",
        "+4.0 ms / +4.0 ms",
        "+200.0 ms / +20.0 ms",
        "0.600 ms / 0.350 ms",
    ]

    pairs = table_rows(md, "Every pair, Kaiwa / floor")
    assert [row[:3] for row in pairs] == [
        ["1", "1", "kaiwa"], ["1", "2", "floor"], ["1", "3", "kaiwa"],
        ["50", "1", "kaiwa"], ["50", "2", "floor"], ["50", "3", "kaiwa"],
        ["200", "1", "kaiwa"],
    ]  # fmt: skip
    assert pairs[4][4] == "+600.0 ms † / +10.0 ms"  # Kaiwa's run was disturbed
    assert pairs[6][4] == "+1200.0 ms / failed"
    assert "## Failed measurements\n\n- N=200, pair 1, floor: daphne exited early" in md


def test_a_problem_in_any_run_fails_the_correctness_row():
    result = paired_result()
    result["pairs"][1]["floor"] = level(lost=2)
    result["summary"] = targets.summarize(result["pairs"], lambda lv: False)
    result["verdicts"] = targets.verdicts(result["summary"])

    rows = table_rows(report.targets_markdown(result), "Targets")

    assert [row for row in rows if row[0].startswith("no errors") and row[1] == "1"] == [
        [
            "no errors, lost tokens or differing replies, in every run",
            "1",
            "0",
            "2",
            "0",
            "–",
            "3 of 3",
            "**no**",
        ]  # fmt: skip
    ]


def test_a_stored_result_renders_again(tmp_path, capsys):
    stored = tmp_path / "targets-latest.json"
    stored.write_text(json.dumps(paired_result()), encoding="utf-8")

    report.main([str(stored)])

    out = capsys.readouterr().out
    assert out.startswith("# Kaiwa against the floor: the relay's targets")
    assert "| added TTFT p50 ≤ 5 ms | 1 | +4.0 ms | +2.0 ms | ≤ 5.0 ms | 2.00 | 3 | yes |" in out


@pytest.fixture
def repository(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "bench@example.invalid")
    git("config", "user.name", "bench")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("a\n")
    (tmp_path / "app.py").write_text("a\n")
    git("add", ".")
    git("commit", "-qm", "start")
    return tmp_path


def test_describe_code_flags_changes_outside_the_benchmark(repository):
    clean = procs.describe_code(repository)
    assert clean["dirty"] is False
    assert len(clean["commit"]) >= 7

    (repository / "bench" / "run.py").write_text("b\n")
    assert procs.describe_code(repository)["dirty"] is False  # the instrument, not the product

    (repository / "app.py").write_text("b\n")
    dirty = procs.describe_code(repository)
    assert dirty["dirty"] is True
    assert dirty["uncommitted_files"] == ["app.py"]
