"""The relay benchmark: N concurrent WebSocket turns (or streamed /v1/chat/completions calls)
through Kaiwa against the same streams read directly from the upstream, in the same run.

    python -m bench                       # 1 daphne process, SQLite + in-memory layer
    python -m bench --postgres --redis    # 1 process, PostgreSQL + Redis
    python -m bench --processes 2         # 2 processes sharing PostgreSQL + Redis
    python -m bench --matrix              # the three above, one report
    python -m bench --n 50,200 --tokens 100 --interval-ms 20 --ramp-ms 1000
    python -m bench --no-pin              # let the kernel move daphne's threads between cores
    python -m bench --targets             # Kaiwa and the floor in pairs: the relay's targets
    python -m bench --route v1            # the OpenAI-compatible route instead of the WebSocket

For each load level N: a fresh set of users, conversations and sessions; N direct clients
read the fake upstream's stream (the baseline); then fresh daphne processes are started and
N WebSocket clients each send one message and read the reply, with the same start times.
Daphne process k runs on core k (all its threads), as docs/deployment.md ("Scaling") advises; the
upstream, the clients, PostgreSQL and Redis are not pinned.
The report compares the two. `--targets` measures Kaiwa and the floor alternately, in pairs,
and judges the relay's targets on the medians (bench/targets.py). See docs/benchmark.md.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import metrics, report, targets
from bench.procs import (
    CpuWindow,
    describe_code,
    describe_machine,
    memory_kib,
    pids_named,
    wait_until_quiet,
)
from bench.server import ROOT, TURN_TABLES, Daphne, Stack
from bench.upstream import expected_text

RESULTS = ROOT / "bench" / "results"
ROUTES = ("ws", "v1")
# The load generator's client kind for each route (bench/load.py).
ROUTE_MODE = {"ws": "kaiwa", "v1": "v1"}
WARMUP_TURNS = 2  # per server process
# What a failed measurement raises: the run keeps the others and says what failed.
FAILED = (RuntimeError, OSError, subprocess.SubprocessError)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    p.add_argument(
        "--route",
        choices=ROUTES,
        default="ws",
        help="what the Kaiwa clients use: ws = WebSocket turns (API.md 5), v1 = streamed "
        "POST /v1/chat/completions with an API token (API.md 7), read by the same SSE "
        "client as the direct baseline (default %(default)s)",
    )
    p.add_argument(
        "--n",
        default=None,
        help="concurrent turns per level (default 50,200,500; with --targets 1,50,200)",
    )
    p.add_argument("--tokens", type=int, default=100, help="tokens per reply (default %(default)s)")
    p.add_argument(
        "--interval-ms",
        type=float,
        default=20.0,
        help="upstream token interval (default %(default)s)",
    )
    p.add_argument(
        "--ramp-ms",
        type=float,
        default=1000.0,
        help="client i sends at i*ramp/N; 0 = all at once (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="seconds a client may take for its whole reply (default: max(120, 30 × stream))",
    )
    p.add_argument(
        "--frame-timeout",
        type=float,
        default=60,
        help="seconds a client waits for its next frame (default %(default)s)",
    )
    p.add_argument("--postgres", action="store_true", help="PostgreSQL (database kaiwa_bench)")
    p.add_argument("--redis", action="store_true", help="Redis channel layer and live text")
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="daphne processes; clients split across them (2+ implies --postgres --redis)",
    )
    p.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin daphne process k (all its threads) to core k, as docs/deployment.md advises "
        "(default: pinned; --no-pin lets the kernel move them)",
    )
    p.add_argument("--matrix", action="store_true", help="run the three standard configurations")
    p.add_argument(
        "--floor",
        action="store_true",
        help="serve bench.floor instead of Kaiwa: the same stack (daphne, Channels, the SDK) "
        "with none of Kaiwa's own work, the lower bound of what Kaiwa can add",
    )
    p.add_argument(
        "--targets",
        action="store_true",
        help="judge the relay's targets: Kaiwa and the floor alternately, --pairs pairs per N, "
        "1 daphne process pinned to a core, SQLite + in-memory layer",
    )
    p.add_argument(
        "--pairs",
        type=int,
        default=targets.PAIRS,
        help="with --targets: pairs of runs per N (default %(default)s)",
    )
    p.add_argument(
        "--attempts",
        type=int,
        default=1,
        help="measure a level up to this many times while other work disturbs it "
        "(default %(default)s)",
    )
    p.add_argument("--load-procs", type=int, default=1, help="client processes (default 1)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for daphne, e.g. STREAM_COALESCE_MS=30 (repeatable)",
    )
    p.add_argument(
        "--settings",
        default="config.settings",
        help="Django settings module for the servers (default %(default)s)",
    )
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--keep-raw", action="store_true", help="also keep every client's timings")
    p.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the temporary directory (daphne logs, specs, SQLite file)",
    )
    p.add_argument("--label", default="", help="a note for the report")
    p.add_argument(
        "--quiet-cores",
        type=float,
        default=0.3,
        help="before each measurement wait until the machine's other work uses at most this "
        "many cores (default %(default)s) ...",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="... but no longer than this many seconds (default %(default)s; 0 = never wait)",
    )
    p.add_argument(
        "--py-spy",
        action="store_true",
        help="profile daphne with py-spy (pip install py-spy): collapsed stacks in OUT/profiles/",
    )
    args = p.parse_args(argv)
    if args.targets:
        # The targets are defined on one process, SQLite, pinned, against the floor.
        clashing = [
            flag
            for flag, on in (
                ("--matrix", args.matrix),
                ("--floor", args.floor),
                ("--postgres", args.postgres),
                ("--redis", args.redis),
                ("--processes", args.processes != 1),
                ("--no-pin", not args.pin),
                ("--py-spy", args.py_spy),
                ("--route v1", args.route != "ws"),
            )
            if on
        ]
        if clashing:
            p.error(f"--targets measures 1 pinned process on SQLite; drop {', '.join(clashing)}")
        if args.pairs < 1:
            p.error("--pairs must be at least 1")
    if args.floor and args.route != "ws":
        p.error("the floor serves the WebSocket route only; drop --floor or --route v1")
    if args.n is None:
        args.n = ",".join(map(str, targets.TARGET_NS)) if args.targets else "50,200,500"
    args.ns = [int(x) for x in args.n.split(",") if x.strip()]
    if args.processes > 1:
        args.postgres = args.redis = True
    return args


def _stacks(args) -> list[Stack]:
    common = {
        "pg_admin_url": args.pg_url,
        "redis_url": args.redis_url,
        "pinned": args.pin,
        "floor": args.floor,
    }
    if args.matrix:
        return [
            Stack(postgres=False, redis=False, processes=1, **common),
            Stack(postgres=True, redis=True, processes=1, **common),
            Stack(postgres=True, redis=True, processes=2, **common),
        ]
    return [Stack(postgres=args.postgres, redis=args.redis, processes=args.processes, **common)]


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of a child's stdout, or RuntimeError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"no output from {proc.args!r} in {timeout:g} s")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{proc.args!r} exited (code {proc.wait()})")
            return line.strip()


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Upstream:
    def __init__(self, tokens: int, interval_ms: float, max_seconds: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.upstream",
                "--tokens",
                str(tokens),
                "--interval-ms",
                str(interval_ms),
                "--max-seconds",
                str(max_seconds),
            ],
            cwd=ROOT,
            env=_python_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        word, port = _read_line(self.proc, 30).split()
        assert word == "READY"
        self.port = int(port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class RssSampler(threading.Thread):
    """Samples the servers' resident memory every 100 ms (VmHWM gives the true peak too)."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak_total = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.1):
            total = sum(memory_kib(pid)[0] for pid in self.pids)
            self.peak_total = max(self.peak_total, total)

    def finish(self) -> int:
        self.stop_event.set()
        self.join(5)
        return self.peak_total


def _run_load(
    mode: str,
    specs: list[dict],
    expected: str,
    args,
    workdir: Path,
    window: CpuWindow,
    timeout: float,
    wait_quiet: bool = True,
    name: str = "",
) -> dict[str, Any]:
    """Run the clients in `args.load_procs` processes; the CPU window spans the load."""
    name = name or mode
    shards = [specs[i :: args.load_procs] for i in range(args.load_procs)]
    procs = []
    try:
        for k, shard in enumerate(shards):
            spec_path = workdir / f"{name}-spec-{k}.json"
            result_path = workdir / f"{name}-result-{k}.json"
            spec_path.write_text(
                json.dumps(
                    {
                        "mode": mode,
                        "expected": expected,
                        "clients": shard,
                        "connect_timeout": 30,
                        "go_timeout": args.quiet_wait + 120,
                        "frame_timeout": args.frame_timeout,
                        "client_timeout": timeout,
                    }
                )
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.load", str(spec_path), str(result_path)],
                cwd=ROOT,
                env=_python_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append((proc, result_path))
        for proc, _ in procs:
            line = _read_line(proc, 120)
            if line != "READY":
                raise RuntimeError(f"load process said {line!r}")
        window.groups["load"] = [p.pid for p, _ in procs]
        waited = time.monotonic()
        quiet = None
        if wait_quiet and args.quiet_wait > 0:
            quiet = wait_until_quiet(args.quiet_cores, args.quiet_wait)
        waited = time.monotonic() - waited
        window.start()
        start_at = time.monotonic() + 0.3
        for proc, _ in procs:
            proc.stdin.write(f"GO {start_at}\n")
            proc.stdin.flush()
        for proc, _ in procs:
            line = _read_line(proc, timeout + 60)
            if not line.startswith("FINISHED"):
                raise RuntimeError(f"load process said {line!r}")
        window.stop()
        clients: list[dict] = []
        cpu = 0.0
        for proc, result_path in procs:
            proc.wait(120)
            result = json.loads(result_path.read_text())
            clients.extend(result["clients"])
            cpu += result["cpu_seconds"]
        clients.sort(key=lambda c: c["index"])
        return {
            "clients": clients,
            "client_cpu_seconds": cpu,
            "busy_cores_before": quiet,
            "waited_for_quiet_seconds": waited,
        }
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _fixtures(
    env: dict[str, str], n: int, tag: str, workdir: Path, prefix: str = "bench", route: str = "ws"
) -> list[dict]:
    out = workdir / f"clients-{tag}.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fixtures",
            "setup",
            "--n",
            str(n),
            "--tag",
            tag,
            "--prefix",
            prefix,
            "--out",
            str(out),
            *(["--api-tokens"] if route == "v1" else []),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    return json.loads(out.read_text())


def _verify(env: dict[str, str], clients_file: Path, expected: str, workdir: Path) -> dict:
    expected_file = workdir / "expected.txt"
    expected_file.write_text(expected, encoding="utf-8")
    out = workdir / "verify.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fixtures",
            "verify",
            "--clients",
            str(clients_file),
            "--expected-file",
            str(expected_file),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return json.loads(out.read_text())


def _wait_for_turns(
    servers: list[Daphne], n: int, timeout: float, since: list[int] | None = None
) -> list[dict]:
    """Every turn logs `turn_finished` after its done event; wait for all N lines."""
    since = since or [0] * len(servers)
    deadline = time.monotonic() + timeout
    while True:
        records = [r for s, o in zip(servers, since, strict=True) for r in s.log_records(o)]
        finished = sum(1 for r in records if r.get("message") == "turn_finished")
        if finished >= n or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _kaiwa_specs(clients: list[dict], servers: list[Daphne], offsets: list[float]) -> list[dict]:
    """Client i talks to server i mod P (the multi-process split) and starts at offsets[i]."""
    specs = []
    for i, c in enumerate(clients):
        server = servers[i % len(servers)]
        specs.append(
            {
                "index": i,
                "server": i % len(servers),
                "offset": offsets[i],
                "host": "127.0.0.1",
                "port": server.port,
                "path": f"/ws/conversations/{c['conversation_id']}/",
                "origin": f"http://127.0.0.1:{server.port}",
                "cookie": c["cookie"],
            }
        )
    return specs


def _v1_specs(clients: list[dict], servers: list[Daphne], offsets: list[float]) -> list[dict]:
    """As _kaiwa_specs, for streamed chat completions: each call appends to the client's own
    conversation (X-Kaiwa-Conversation), so the stored replies are checked as the turns'."""
    return [
        {
            "index": i,
            "server": i % len(servers),
            "offset": offsets[i],
            "host": "127.0.0.1",
            "port": servers[i % len(servers)].port,
            "path": "/v1/chat/completions",
            "headers": {
                "Authorization": f"Bearer {c['token']}",
                "X-Kaiwa-Conversation": c["conversation_id"],
            },
        }
        for i, c in enumerate(clients)
    ]


def _route_specs(route: str, clients, servers, offsets) -> list[dict]:
    return (_v1_specs if route == "v1" else _kaiwa_specs)(clients, servers, offsets)


def _wait_for_stored(
    env: dict[str, str], clients_file: Path, expected: str, workdir: Path, n: int, timeout: float
) -> dict:
    """The /v1 route logs no `turn_finished`: wait until every reply is stored, ended."""
    deadline = time.monotonic() + timeout
    while True:
        verify = _verify(env, clients_file, expected, workdir)
        ended = verify["replies"] - verify["reply_statuses"].get("streaming", 0)
        if ended >= n or time.monotonic() > deadline:
            return verify
        time.sleep(0.5)


def _settled_writes(stack: Stack, before: dict | None, rows: int, timeout: float = 20):
    """PostgreSQL's table counters once the warm-up's `rows` writes show in them.

    Backends that stay connected report their counters at most once a second while busy
    and within about 10 s once idle.
    """
    if before is None:
        return None
    deadline = time.monotonic() + timeout
    while True:
        now = stack.table_writes()
        grown = sum(
            now.get(t, {}).get(k, 0) - before.get(t, {}).get(k, 0)
            for t in TURN_TABLES
            for k in ("ins", "upd")
        )
        if grown >= rows or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def _wait_for_no_backends(stack: Stack, timeout: float = 15) -> None:
    """PostgreSQL backends report their table statistics when they end."""
    deadline = time.monotonic() + timeout
    while stack.pg_backend_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.3)


def run_level(
    stack: Stack, env: dict[str, str], n: int, args, upstream: Upstream, tag: str = ""
) -> dict:
    """Measure one load level; on a busy machine, up to --attempts times (the least
    disturbed measurement is kept). `tag` tells apart levels of one N on one stack."""
    kept = None
    others = []
    for attempt in range(1, args.attempts + 1):
        level = measure_level(stack, env, n, args, upstream, attempt, tag)
        cpu = level["cpu"]
        disturbance = max(cpu["other_cores_during_kaiwa"], cpu["other_cores_during_direct"])
        others.append(round(disturbance, 2))
        if kept is None or disturbance < kept[0]:
            kept = (disturbance, level)
        if disturbance <= max(0.3, args.quiet_cores):
            break
        again = "; measuring again" if attempt < args.attempts else ""
        print(f"  N={n}: other work used {disturbance:.2f} cores{again}", flush=True)
    level = kept[1]
    level["attempts_other_cores"] = others
    return level


def measure_level(
    stack: Stack, env: dict[str, str], n: int, args, upstream: Upstream, attempt: int, tag: str = ""
) -> dict:
    run_id = f"{tag}n{n}-{attempt}"
    workdir = stack.workdir / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    expected = expected_text(args.tokens)
    stream_seconds = args.tokens * args.interval_ms / 1000
    timeout = args.ramp_ms / 1000 + (args.timeout or max(120.0, 30 * stream_seconds))
    offsets = [i * args.ramp_ms / 1000 / n for i in range(n)]
    print(f"  N={n}: fixtures", flush=True)
    route = args.route
    mode = ROUTE_MODE[route]
    clients = _fixtures(env, n, run_id, workdir, route=route)
    warm_clients = _fixtures(
        env, WARMUP_TURNS * stack.processes, f"warm-{run_id}", workdir, prefix="warm", route=route
    )

    # The baseline: the same streams straight from the upstream.
    print(f"  N={n}: direct", flush=True)
    direct_specs = [
        {
            "index": i,
            "offset": offsets[i],
            "host": "127.0.0.1",
            "port": upstream.port,
            "path": "/v1/chat/completions",
        }
        for i in range(n)
    ]
    dynamic = {"database": stack.pg_backend_pids}
    if stack.redis:
        dynamic["redis"] = lambda: pids_named("redis-server")
    direct_window = CpuWindow(groups={"upstream": [upstream.proc.pid]}, dynamic=dynamic)
    direct = _run_load("direct", direct_specs, expected, args, workdir, direct_window, timeout)

    if stack.postgres:
        _wait_for_no_backends(stack)  # the fixtures' backend has reported its writes
    servers: list[Daphne] = []
    try:
        for k in range(stack.processes):
            cpu = k % os.cpu_count() if stack.pinned else None
            servers.append(
                Daphne(
                    env=env,
                    log_path=workdir / f"daphne-{k}.log",
                    cpu=cpu,
                    application=stack.application,
                ).start()
            )
        # Warm-up: a few turns per process, not measured, so that lazy set-up (the SDK
        # client, upstream and database connections, imports) is not charged to the load.
        print(f"  N={n}: warm-up ({len(warm_clients)} turns)", flush=True)
        warm_before = stack.table_writes()
        warm = _run_load(
            mode,
            _route_specs(
                route, warm_clients, servers, [0.05 * i for i in range(len(warm_clients))]
            ),
            expected,
            args,
            workdir,
            CpuWindow(groups={}),
            timeout,
            wait_quiet=False,
            name="warmup",
        )
        failed = [c["error"] for c in warm["clients"] if c["error"]]
        if failed:
            raise RuntimeError(f"warm-up turns failed: {failed[:3]}")
        if route == "v1":
            _wait_for_stored(
                env,
                workdir / f"clients-warm-{run_id}.json",
                expected,
                workdir,
                len(warm_clients),
                timeout=30,
            )
            warm_records = []
        else:
            warm_records = _wait_for_turns(servers, len(warm_clients), timeout=30)
        log_offsets = [s.log_size() for s in servers]
        warm_rows = sum(
            metrics.FIXED_STATEMENTS + int(r.get("db_flushes", 0))
            for r in warm_records
            if r.get("message") == "turn_finished"
        )
        writes_before = _settled_writes(stack, warm_before, warm_rows)
        idle_rss = [memory_kib(s.pid)[0] for s in servers]
        print(f"  N={n}: kaiwa, route {route} ({len(servers)} process(es))", flush=True)
        kaiwa_specs = _route_specs(route, clients, servers, offsets)
        window = CpuWindow(
            groups={"daphne": [s.pid for s in servers], "upstream": [upstream.proc.pid]},
            dynamic=dynamic,
        )
        spies = []
        if args.py_spy:
            slug = stack.label.replace(" ", "_").replace(",", "").replace("+", "")
            (args.out / "profiles").mkdir(parents=True, exist_ok=True)
            spies = [
                s.profile(args.out / "profiles" / f"{slug}-{tag}n{n}-{k}.txt")
                for k, s in enumerate(servers)
            ]
            time.sleep(1)  # let py-spy attach before the load starts
        sampler = RssSampler([s.pid for s in servers])
        sampler.start()
        kaiwa = _run_load(mode, kaiwa_specs, expected, args, workdir, window, timeout)
        peak_total = sampler.finish()
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
        if route == "v1":
            _wait_for_stored(
                env, workdir / f"clients-{run_id}.json", expected, workdir, n, timeout=30
            )
        else:
            _wait_for_turns(servers, n, timeout=30, since=log_offsets)
        hwm = [memory_kib(s.pid)[1] for s in servers]
    finally:
        for s in servers:
            s.stop()
    if stack.postgres:
        _wait_for_no_backends(stack)
    writes_after = stack.table_writes()
    table_writes = None
    if writes_before is not None and writes_after is not None:
        table_writes = {
            t: {
                k: writes_after[t][k] - writes_before.get(t, {}).get(k, 0)
                for k in ("ins", "upd", "del")
            }
            for t in writes_after
        }
    verify = _verify(env, workdir / f"clients-{run_id}.json", expected, workdir)
    records = [r for s, o in zip(servers, log_offsets, strict=True) for r in s.log_records(o)]

    k_side = metrics.client_side(kaiwa["clients"], args.tokens)
    d_side = metrics.client_side(direct["clients"], args.tokens)
    relayed = k_side["tokens_delivered"]
    daphne_cpu = window.used["daphne"]
    level = {
        "n": n,
        "direct": d_side,
        "kaiwa": k_side,
        "added": metrics.compare(k_side, d_side),
        "cpu": {
            "kaiwa_window_seconds": window.wall,
            "daphne_seconds": daphne_cpu,
            "daphne_per_1000_tokens": daphne_cpu / relayed * 1000 if relayed else None,
            "tokens_relayed": relayed,
            "during_kaiwa": window.used,
            "during_kaiwa_client_self_reported": kaiwa["client_cpu_seconds"],
            "during_direct": direct_window.used,
            # Others' processes and the hypervisor's other guests: both take our cores.
            "other_cores_during_kaiwa": (window.used["other"] + window.used["steal"]) / window.wall,
            "other_cores_during_direct": (direct_window.used["other"] + direct_window.used["steal"])
            / direct_window.wall,
            "busy_cores_before_kaiwa": kaiwa["busy_cores_before"],
            "busy_cores_before_direct": direct["busy_cores_before"],
            "waited_for_quiet_seconds": kaiwa["waited_for_quiet_seconds"]
            + direct["waited_for_quiet_seconds"],
            "direct_window_seconds": direct_window.wall,
        },
        "memory": {
            "idle_rss_mib": [round(r / 1024, 1) for r in idle_rss],
            "peak_rss_mib": [round(h / 1024, 1) for h in hwm],
            "peak_total_sampled_mib": round(peak_total / 1024, 1),
            "per_turn_kib": (sum(hwm) - sum(idle_rss)) / n,
        },
        "db": metrics.turn_writes(records, table_writes, n),
        "stored": verify,
    }
    if stack.floor:  # it writes nothing: no figures to report, rather than Kaiwa's formula's
        level["db"].update(statements_mean=None, transactions_mean=None, budget_mean=None)
    if args.keep_raw:
        raw = args.out / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        slug = stack.label.replace(" ", "_").replace(",", "").replace("+", "")
        (raw / f"{slug}-{run_id}.json").write_text(
            json.dumps({"direct": direct["clients"], "kaiwa": kaiwa["clients"]})
        )
    return level


def _server_env(args) -> dict[str, str]:
    extra = dict(kv.split("=", 1) for kv in args.server_env)
    if args.settings != "config.settings":
        extra["DJANGO_SETTINGS_MODULE"] = args.settings
    return extra


@contextlib.contextmanager
def _database(stack: Stack, args, upstream: Upstream) -> Iterator[dict[str, str]]:
    """A fresh, migrated database for the stack; yields the servers' environment."""
    env = stack.env(upstream.port, _server_env(args))
    print(f"{stack.label}: database {stack.database_url}", flush=True)
    try:
        stack.create_database(env)
        yield env
    finally:
        stack.drop_database(keep_files=args.keep_workdir)
        if args.keep_workdir:
            print(f"kept {stack.workdir}", flush=True)


def run_stack(stack: Stack, args, upstream: Upstream) -> dict:
    with _database(stack, args, upstream) as env:
        levels = [run_level(stack, env, n, args, upstream) for n in args.ns]
    return _config(stack, args, levels)


def _config(stack: Stack, args, levels: list[dict]) -> dict:
    extra = _server_env(args)
    label = stack.label
    if extra:
        label += " [" + ", ".join(f"{k}={v}" for k, v in extra.items()) + "]"
    return {
        "label": label,
        "postgres": stack.postgres,
        "redis": stack.redis,
        "processes": stack.processes,
        "pinned": stack.pinned,
        "floor": stack.floor,
        "server_env": extra,
        "levels": levels,
    }


def run_targets(args, upstream: Upstream) -> dict:
    """Kaiwa and the floor alternately, `args.pairs` pairs at each N (bench/targets.py).

    Each side keeps one database for the whole run, as a single run keeps one for all its
    levels; every measurement gets fresh daphne processes, users' conversations and sessions.
    """
    [kaiwa] = _stacks(args)
    floor = dataclasses.replace(
        kaiwa, floor=True, workdir=Path(tempfile.mkdtemp(prefix="kaiwa-bench-floor-"))
    )
    stacks = {"kaiwa": kaiwa, "floor": floor}
    failures: list[str] = []
    records: list[dict] = []
    try:
        with contextlib.ExitStack() as databases:
            envs = {
                side: databases.enter_context(_database(stack, args, upstream))
                for side, stack in stacks.items()
            }

            def measure(side: str, n: int, pair: int) -> dict:
                print(f"N={n}, pair {pair} of {args.pairs}: {stacks[side].label}", flush=True)
                try:
                    return run_level(stacks[side], envs[side], n, args, upstream, f"p{pair}-")
                except FAILED as exc:
                    print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
                    raise

            records, failures = targets.run_pairs(args.ns, args.pairs, measure, FAILED)
    except FAILED as exc:  # a database that could not be made (nothing measured) or dropped
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        failures.append(f"database: {exc}")
    configs = [_config(stack, args, []) for stack in stacks.values()]
    return {"configs": configs, "pairs": records, "failures": failures}


def _run_stacks(args, upstream: Upstream) -> tuple[list[dict], list[str]]:
    configs, failures = [], []
    for stack in _stacks(args):
        try:
            configs.append(run_stack(stack, args, upstream))
        except FAILED as exc:
            # Keep what the other configurations measured; say what failed.
            print(f"{stack.label}: FAILED: {exc}", file=sys.stderr, flush=True)
            failures.append(f"{stack.label}: {exc}")
    return configs, failures


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = describe_machine()
    code = describe_code(ROOT)
    started = datetime.now(UTC)
    upstream = Upstream(args.tokens, args.interval_ms, max_seconds=6 * 3600)
    try:
        if args.targets:
            paired = run_targets(args, upstream)
            configs, failures = paired["configs"], paired["failures"]
        else:
            configs, failures = _run_stacks(args, upstream)
    finally:
        upstream.stop()
    result = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "code": code,
        "settings": {
            "n": args.ns,
            "tokens": args.tokens,
            "interval_ms": args.interval_ms,
            "ramp_ms": args.ramp_ms,
            "load_procs": args.load_procs,
            "label": args.label,
            "quiet_cores": args.quiet_cores,
            "pinned": args.pin,
            "route": args.route,
        },
        "configs": configs,
        "failures": failures,
    }
    prefix = ""
    if args.targets:
        prefix = "targets-"
        result["settings"]["pairs"] = args.pairs
        result["pairs"] = paired["pairs"]
        result["summary"] = targets.summarize(
            result["pairs"], contended=lambda level: report.contended(level, result)
        )
        result["verdicts"] = targets.verdicts(result["summary"])
        markdown = report.targets_markdown(result)
    else:
        markdown = report.markdown(result)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"{prefix}latest", f"{prefix}{stamp}"):
        (args.out / f"{name}.md").write_text(markdown, encoding="utf-8")
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(markdown)
    print(
        f"written: {args.out / f'{prefix}latest.md'}, {args.out / f'{prefix}latest.json'} "
        f"(and {prefix}{stamp}.*)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
