"""`python -m bench` run end to end, scaled down, for the tests that check a whole run."""

import json
import subprocess
import sys
from pathlib import Path

from bench.server import ROOT


def run_bench(out: Path, *args: str, tokens: int, report: str, timeout: float) -> dict:
    """Run the benchmark with `args`, short replies (`tokens` at 10 ms, no ramp, no wait for
    a quiet machine) and its report in `out`; returns the report `report` (a JSON file name)."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            *args,
            "--tokens",
            str(tokens),
            "--interval-ms",
            "10",
            "--ramp-ms",
            "0",
            "--quiet-wait",
            "0",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((out / report).read_text(encoding="utf-8"))
