"""deploy/nginx.conf in front of two real daphne processes: the compose topology, on loopback.

The proxy's configuration is the deployed file with only the upstream addresses and the
listening port rewritten. Requests are spread over both processes, WebSocket upgrades pass,
and event streams arrive unbuffered. Needs Debian's nginx (skipped without it) and Redis
for the shared channel layer (CI has both).
"""

import asyncio
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import pytest
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import LOG_DIR, free_port, redis_available, session_cookie
from tests.streaming_clients import WS

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHARED_REDIS = "redis://127.0.0.1:6379/6"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.multiprocess,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed"),
    pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379"),
]


class Front:
    def __init__(self, port: int, replicas) -> None:
        self.port = port
        self.replicas = replicas
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


@pytest.fixture
def front(spawn_kaiwa, tmp_path):
    app1 = spawn_kaiwa("nginx-app1", REDIS_URL=SHARED_REDIS)
    app2 = spawn_kaiwa("nginx-app2", REDIS_URL=SHARED_REDIS)
    port = free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("server app1:8000", f"server 127.0.0.1:{app1.port}")
    site = site.replace("server app2:8000", f"server 127.0.0.1:{app2.port}")
    assert "listen 80;" in site
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp_path / "site.conf").write_text(site)
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (tmp_path / "nginx.conf").write_text(
        f"""
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {tmp_path}/site.conf;
}}
"""
    )
    tmp_path.chmod(0o777)  # workers run as an unprivileged user
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/proxy-healthz", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (tmp_path / "error.log").read_text()
                    if (tmp_path / "error.log").exists()
                    else ""
                )
                pytest.fail(f"nginx did not start: {log}")
            time.sleep(0.1)
    yield Front(port, (app1, app2))
    process.terminate()
    process.wait(10)


@pytest.fixture
def owner(db):
    return UserFactory(username="proxied")


async def test_requests_are_spread_over_both_replicas(front, upstream, owner):
    _, token = await sync_to_async(api_token_create)(user=owner, name="t")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(4):
            upstream.enqueue(reply(f"答え{i}"))
            async with session.post(f"{front.url}/api/chat/", json={"message": f"{i}"}) as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json())["message"] == f"答え{i}"
    for replica in front.replicas:
        log = (LOG_DIR / f"{replica.name}-{replica.port}.log").read_text(errors="replace")
        assert log.count('"llm_call"') >= 1, f"{replica.name} served no turn"


async def test_websocket_upgrades_pass_through_the_proxy(front, upstream, owner):
    conversation = await sync_to_async(ConversationFactory)(owner=owner)
    cookie = await sync_to_async(session_cookie)(owner)
    upstream.enqueue(reply("プロキシ越しの返事", chunks=["プロキシ", "越しの", "返事"]))
    ws = await WS.connect(front, conversation.id, cookie)
    try:
        await ws.send({"type": "send", "content": "やあ", "client_id": str(uuid.uuid4())})
        done = await ws.until("done", timeout=30)
    finally:
        await ws.close()
    assert done["content"] == "プロキシ越しの返事"
    assert ws.deltas(done["message_id"]) == "プロキシ越しの返事"


async def test_event_streams_arrive_unbuffered(front, upstream, owner):
    _, token = await sync_to_async(api_token_create)(user=owner, name="t")
    text = "".join(f"語{i:02d} " for i in range(20))
    upstream.enqueue(
        reply(text, chunks=[text[i : i + 4] for i in range(0, len(text), 4)], interval=0.1)
    )
    arrivals: list[float] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        started = asyncio.get_running_loop().time()
        async with session.post(f"{front.url}/api/chat/stream/", json={"message": "x"}) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            async for raw in resp.content:
                if raw.startswith(b"data: "):
                    arrivals.append(asyncio.get_running_loop().time() - started)
    # ~2 s of streaming: the first text must arrive long before the end, not all at once.
    assert len(arrivals) >= 5
    assert arrivals[-1] - arrivals[1] > 1.0, arrivals


def test_metrics_are_not_served_through_the_proxy(front):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{front.url}/metrics", timeout=5)
    assert refused.value.code == 404
