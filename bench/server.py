"""Kaiwa under test: a fresh database, daphne processes, their logs, the database's counters.

Each configuration gets a new database (a SQLite file in a temporary directory, or the
PostgreSQL database `kaiwa_bench`, dropped and re-created) migrated with `manage.py
migrate`. Each load level starts fresh daphne processes, so CPU time and peak memory
(VmHWM) belong to that level alone, and stops them with SIGTERM before the database's
counters are read (a PostgreSQL backend reports its statistics when it ends).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Tables whose rows a turn writes.
TURN_TABLES = ("conversations_message", "conversations_conversation")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """Where Kaiwa keeps its state in one configuration."""

    postgres: bool
    redis: bool
    processes: int
    pinned: bool = False  # daphne process k on core k
    floor: bool = False  # serve bench.floor (the stack without Kaiwa's own work)
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    pg_database: str = "kaiwa_bench"
    redis_url: str = "redis://127.0.0.1:6379/12"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kaiwa-bench-")))

    @property
    def label(self) -> str:
        db = "PostgreSQL" if self.postgres else "SQLite"
        layer = "Redis" if self.redis else "in-memory layer"
        procs = f"{self.processes} daphne process" + ("es" if self.processes > 1 else "")
        if self.pinned:
            procs += " pinned to a core" if self.processes == 1 else ", each pinned to a core"
        label = f"{procs}, {db} + {layer}"
        return f"floor (no Kaiwa): {label}" if self.floor else label

    @property
    def application(self) -> str:
        return "bench.floor:application" if self.floor else "config.asgi:application"

    @property
    def database_url(self) -> str:
        if self.postgres:
            base = self.pg_admin_url.rsplit("/", 1)[0]
            return f"{base}/{self.pg_database}".replace("postgresql://", "postgres://", 1)
        return f"sqlite:///{self.workdir / 'bench.sqlite3'}"

    def env(self, upstream_port: int, extra: dict[str, str]) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("LLM_", "OPENAI_", "AZURE_", "SEARCH_", "SEARXNG_", "STREAM_", "DJANGO_")
            )
            and k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "ENVIRONMENT", "ALLOWED_HOSTS")
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "ENVIRONMENT": "development",
                "DEBUG": "false",  # DEBUG keeps every SQL statement in memory
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.database_url,
                "LLM_PROVIDER": "openai",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
                "OPENAI_API_KEY": "sk-bench-not-a-secret",
                "OPENAI_MODEL": "gpt-bench",
                # The measured path is the reply; a first reply's title call is not part of it.
                "LLM_AUTO_TITLE": "false",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(ROOT),
            }
        )
        if self.redis:
            env["REDIS_URL"] = self.redis_url
        env.update(extra)
        return env

    # --- database ---------------------------------------------------------------------

    def create_database(self, env: dict[str, str]) -> None:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.pg_database}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
        )

    def drop_database(self, keep_files: bool = False) -> None:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
        if not keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def table_writes(self) -> dict[str, dict[str, int]] | None:
        """Rows inserted/updated/deleted so far per table (PostgreSQL's own counters)."""
        if not self.postgres:
            return None
        import psycopg

        url = self.database_url.replace("postgres://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
            ).fetchall()
        return {name: {"ins": i, "upd": u, "del": d} for name, i, u, d in rows}

    def pg_backend_pids(self) -> list[int]:
        """The PostgreSQL backends serving the bench database (not other users')."""
        if not self.postgres:
            return []
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.pg_database,),
            ).fetchall()
        return [pid for (pid,) in rows]


@dataclass
class Daphne:
    """One daphne process serving Kaiwa (config.asgi:application) or the floor."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    cpu: int | None = None  # pin every thread of the process to this core
    application: str = "config.asgi:application"

    def start(self, timeout: float = 60) -> "Daphne":
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            self.application,
        ]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if self.cpu is not None:
            # Set before the interpreter has started a second thread: the threads it starts
            # later (database threads, asgiref's executors) inherit the main thread's mask.
            os.sched_setaffinity(self.proc.pid, {self.cpu})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/healthz", timeout=1
                ) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne did not become healthy in {timeout} s; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def profile(self, path: Path) -> subprocess.Popen:
        """Attach `py-spy record` (collapsed stacks to `path`); SIGINT it to write them."""
        py_spy = Path(sys.executable).with_name("py-spy")
        return subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "200",
                "--nonblocking",  # never pause the server to sample it
                "--gil",  # only the thread holding the GIL: threads waiting for it are not busy
                "--format",
                "raw",
                "--output",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_records(self, since: int = 0) -> list[dict]:
        """The JSON log lines the process wrote from byte `since` on (others — tracebacks,
        warnings — as {"raw": line})."""
        records = []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(since)
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = {"raw": line}
                if not isinstance(record, dict):
                    record = {"raw": line}
                records.append(record)
        return records
