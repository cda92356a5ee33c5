"""Real servers for the tests: daphne processes running Kaiwa against the test database.

Streaming, WebSocket, multi-process and browser tests talk to these over real HTTP and
WebSocket connections. The processes use the test database (a file for SQLite, the test
database for PostgreSQL) and the session's fake OpenAI server.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection

from tests.fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "test-artifacts" / "server-logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    host = s["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class KaiwaProcess:
    """One daphne process serving Kaiwa."""

    env: dict[str, str]
    name: str = "kaiwa"
    port: int = field(default_factory=free_port)
    # More daphne options (the Dockerfile's, say).
    daphne_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """What the process wrote (stdout and stderr)."""
        return LOG_DIR / f"{self.name}-{self.port}.log"

    def start(self, timeout: float = 30) -> "KaiwaProcess":
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                *self.daphne_args,
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited early; see {log.name}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("daphne did not become healthy in time")

    def kill(self) -> None:
        """Die like a crashed process: no clean shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def server_env(upstream: FakeOpenAIServer, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLM_", "OPENAI_", "AZURE_", "SEARCH_", "SEARXNG_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": test_database_url(),
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": "sk-live-server-test-key",
            "OPENAI_MODEL": "gpt-test",
            "LLM_MODELS": "gpt-test=Test model,gpt-test-mini=Test mini",
            # The browser tests attach images: the default model reads them, the mini does not.
            "LLM_VISION_MODELS": "gpt-test",
            "LLM_MAX_RETRIES": "0",
            # Off unless a test turns it on: a title call would take the next queued reply.
            "LLM_AUTO_TITLE": "false",
            "LLM_REQUEST_TIMEOUT": "10",
            "STREAM_STALE_AFTER_SECONDS": "3",
            "SSE_KEEPALIVE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "KAIWA_TESTS_FAST_PASSWORD_HASHER": "true",
            # Generated images of the test servers: never the working tree's media folder.
            "MEDIA_ROOT": str(ROOT / "test-artifacts" / "media"),
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def upstream():
    """The fake OpenAI server shared by the live Kaiwa processes."""
    server = FakeOpenAIServer(azure_quirks=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kaiwa_server(django_db_setup, django_db_blocker, upstream):
    """One daphne process for the session (SQLite: in-memory layer; with REDIS_URL: Redis)."""
    with django_db_blocker.unblock():
        env = server_env(upstream)
    server = KaiwaProcess(env=env, name="main").start()
    yield server
    server.stop()


@pytest.fixture
def live(kaiwa_server, upstream, transactional_db):
    """The session's server with a clean upstream queue; the test's data is committed."""
    upstream.clear()
    yield kaiwa_server
    upstream.clear()


def session_cookie(user) -> str:
    """A real session for `user` (stored in the test database), as a Cookie header value."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def redis_available(url: str = "redis://127.0.0.1:6379/0") -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def spawn_kaiwa(django_db_blocker, upstream, transactional_db):
    """Start extra daphne processes for one test (stopped, or killed, at its end)."""
    started: list[KaiwaProcess] = []

    def spawn(name: str, *, daphne_args: tuple[str, ...] = (), **env: str) -> KaiwaProcess:
        with django_db_blocker.unblock():
            process_env = server_env(upstream, **env)
        process = KaiwaProcess(env=process_env, name=name, daphne_args=list(daphne_args)).start()
        started.append(process)
        return process

    upstream.clear()
    yield spawn
    for process in started:
        process.stop()
    upstream.clear()
