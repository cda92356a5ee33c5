"""Image generation as a job: 202 at once, followed to its end over the API and a socket,
the same from another process, `interrupted` when its process dies; image calls have
their own timeout."""

import asyncio
import json
import time
from datetime import timedelta

import aiohttp
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts.services import api_token_create
from assistant.image_jobs import (
    DEFAULT_USUAL_SECONDS,
    image_job_create,
    recover_stale_image_jobs,
    usual_image_seconds,
)
from assistant.limits import Throttled
from assistant.models import GeneratedImage
from conversations.models import Message
from tests.assistant.test_multiprocess import SHARED_REDIS
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import error, image_b64, reply, tiny_png, tool_calls
from tests.live_server import redis_available, session_cookie
from tests.streaming_clients import WS
from usage.models import DailyUsage, UsageRecord

PNG = tiny_png(3, 3, (10, 200, 30))
ASYNC = {"Prefer": "respond-async"}
BODY = {"prompt": "夜の東京タワー", "size": "1024x1024"}


@pytest.fixture
def owner(db):
    return UserFactory(username="painter")


@pytest.fixture
def cookie(owner):
    return session_cookie(owner)


@pytest.fixture
def token(owner):
    return api_token_create(user=owner, name="jobs")[1]


def api(token: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})


async def image_event(socket: WS, event: str, timeout: float = 20) -> dict:
    """The next `image_job` frame of kind `event` (progress, complete, failed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await socket.until("image_job", timeout=max(0.1, deadline - loop.time()))
        if frame["event"] == event:
            return frame


async def get_json(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_a_slow_image_answers_202_at_once_and_is_followed_to_complete(
    live, upstream, token, cookie
):
    upstream.enqueue_image(image_b64(PNG, revised_prompt="Tokyo Tower at night", delay=3))
    socket = await WS.connect_events(live, cookie)
    async with api(token) as http:
        asked = time.monotonic()
        async with http.post(f"{live.url}/api/images/", json=BODY, headers=ASYNC) as response:
            assert response.status == 202, await response.text()
            job = await response.json()
            assert response.headers["Location"] == f"/api/images/{job['id']}/"
            assert response.headers["Preference-Applied"] == "respond-async"
        assert time.monotonic() - asked < 2.5  # not after the image's 3 s
        assert job["status"] == "pending" and job["url"] is None and job["error"] is None
        assert job["prompt"] == BODY["prompt"] and job["usual_seconds"] > 0

        progress = await image_event(socket, "progress")
        assert progress["image"]["id"] == job["id"] and progress["image"]["status"] == "running"
        # A reload while it runs: the job as it stands, in the list too.
        running = await get_json(http, f"{live.url}/api/images/{job['id']}/")
        assert running["status"] == "running" and running["started_at"]
        listed = await get_json(http, f"{live.url}/api/images/")
        assert [i["status"] for i in listed["results"] if i["id"] == job["id"]] == ["running"]

        done = await image_event(socket, "complete")
        assert done["image"]["status"] == "complete"
        assert done["image"]["url"] == f"/api/images/{job['id']}/file/"
        stored = await get_json(http, f"{live.url}/api/images/{job['id']}/")
        assert stored["status"] == "complete" and stored["revised_prompt"] == "Tokyo Tower at night"
        assert stored["finished_at"] and stored["usual_seconds"] is None
        async with http.get(f"{live.url}{stored['url']}") as response:
            assert response.status == 200 and await response.read() == PNG
    await socket.close()
    # Charged to the ledger once, as the synchronous path does.
    records = await sync_to_async(list)(UsageRecord.objects.filter(kind="image"))
    assert [r.calls for r in records] == [1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_another_users_job_is_not_found_and_not_told(live, upstream, token, cookie, db):
    upstream.enqueue_image(image_b64(PNG, delay=0.5))
    mallory = await sync_to_async(UserFactory)(username="mallory")
    theirs = await WS.connect_events(live, await sync_to_async(session_cookie)(mallory))
    mine = await WS.connect_events(live, cookie)
    mallory_token = (await sync_to_async(api_token_create)(user=mallory, name="m"))[1]
    async with api(token) as http:
        async with http.post(f"{live.url}/api/images/", json=BODY, headers=ASYNC) as response:
            job = await response.json()
    await image_event(mine, "complete")
    async with api(mallory_token) as http:
        async with http.get(f"{live.url}/api/images/{job['id']}/") as response:
            assert response.status == 404
    with pytest.raises(TimeoutError):
        await theirs.until("image_job", timeout=0.5)
    await mine.close()
    await theirs.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
async def test_an_image_slower_than_the_chat_timeout_completes_within_its_own(
    spawn_kaiwa, upstream, token, cookie
):
    server = spawn_kaiwa(
        "slow-images", LLM_REQUEST_TIMEOUT="1", IMAGE_REQUEST_TIMEOUT="6", IMAGE_MAX_RETRIES="0"
    )
    upstream.enqueue_image(image_b64(PNG, delay=2.5))
    socket = await WS.connect_events(server, cookie)
    async with api(token) as http:
        async with http.post(f"{server.url}/api/images/", json=BODY, headers=ASYNC) as response:
            job = await response.json()
        done = await image_event(socket, "complete")
        assert done["image"]["id"] == job["id"]
        # The same server's synchronous path: the image call gets IMAGE_REQUEST_TIMEOUT too.
        upstream.enqueue_image(image_b64(PNG, delay=2.5))
        async with http.post(f"{server.url}/api/images/", json=BODY) as response:
            assert response.status == 201 and (await response.json())["status"] == "complete"
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_an_image_slower_than_its_timeout_fails_with_upstream_timeout(
    spawn_kaiwa, upstream, token, cookie
):
    server = spawn_kaiwa("image-timeout", IMAGE_REQUEST_TIMEOUT="1", IMAGE_MAX_RETRIES="0")
    upstream.enqueue_image(image_b64(PNG, delay=4))
    socket = await WS.connect_events(server, cookie)
    async with api(token) as http:
        async with http.post(f"{server.url}/api/images/", json=BODY, headers=ASYNC) as response:
            job = await response.json()
        failed = await image_event(socket, "failed")
        assert failed["image"]["id"] == job["id"]
        stored = await get_json(http, f"{server.url}/api/images/{job['id']}/")
    await socket.close()
    assert stored["status"] == "failed" and stored["error"]["code"] == "upstream_timeout"
    assert stored["url"] is None


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
@pytest.mark.skipif(not redis_available(), reason="needs Redis at 127.0.0.1:6379 (CI has it)")
async def test_a_job_on_one_process_is_followed_through_another(
    spawn_kaiwa, upstream, token, cookie
):
    a = spawn_kaiwa("a", REDIS_URL=SHARED_REDIS)
    b = spawn_kaiwa("b", REDIS_URL=SHARED_REDIS)
    upstream.enqueue_image(image_b64(PNG, delay=3))
    on_b = await WS.connect_events(b, cookie)
    async with api(token) as http:
        async with http.post(f"{a.url}/api/images/", json=BODY, headers=ASYNC) as response:
            assert response.status == 202
            job = await response.json()
        await image_event(on_b, "progress")  # told through Redis
        # B's reader recovers stale jobs first: the runner in A is alive, so it is kept.
        seen = await get_json(http, f"{b.url}/api/images/{job['id']}/")
        assert seen["status"] == "running"
        done = await image_event(on_b, "complete")
        assert done["image"]["id"] == job["id"]
        stored = await get_json(http, f"{b.url}/api/images/{job['id']}/")
        assert stored["status"] == "complete"
        async with http.get(f"{b.url}{stored['url']}") as response:
            assert await response.read() == PNG
    await on_b.close()


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
async def test_a_killed_process_leaves_its_job_interrupted(
    spawn_kaiwa, live, upstream, token, cookie
):
    doomed = spawn_kaiwa("doomed")
    upstream.enqueue_image(image_b64(PNG, delay=60))
    socket = await WS.connect_events(doomed, cookie)
    async with api(token) as http:
        async with http.post(f"{doomed.url}/api/images/", json=BODY, headers=ASYNC) as response:
            job = await response.json()
        await image_event(socket, "progress")
        doomed.kill()
        await socket.session.close()
        stuck = await sync_to_async(GeneratedImage.objects.get)(pk=job["id"])
        assert stuck.status == "running"  # what a dead process leaves behind

        # A reader on a live process finds its heartbeat stale (3 s in the test servers).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen = await get_json(http, f"{live.url}/api/images/{job['id']}/")
            if seen["status"] != "running":
                break
            await asyncio.sleep(0.5)
    assert seen["status"] == "interrupted" and seen["error"]["code"] == "interrupted"
    # The provider may have made the image: it stays counted, charged as an estimate.
    record = await sync_to_async(UsageRecord.objects.get)(kind="image")
    assert record.calls == 1


# --- in process: the job's bookkeeping -------------------------------------------------


def _stale(job: GeneratedImage, *, status: str) -> GeneratedImage:
    old = timezone.now() - timedelta(seconds=60)
    GeneratedImage.objects.filter(pk=job.pk).update(
        status=status, heartbeat_at=old if status == "running" else None, created_at=old
    )
    return job


@pytest.mark.django_db
def test_a_job_refused_by_the_image_quota_stores_nothing(user, settings):
    settings.DAILY_IMAGE_QUOTA = 1
    image_job_create(user=user, prompt="一枚目", size="1024x1024")
    with pytest.raises(Throttled):
        image_job_create(user=user, prompt="二枚目", size="1024x1024")
    assert list(GeneratedImage.objects.values_list("prompt", flat=True)) == ["一枚目"]
    assert DailyUsage.objects.get(user=user).images == 1


@pytest.mark.django_db
def test_recovery_settles_what_the_dead_job_may_have_spent(user, settings):
    settings.STREAM_STALE_AFTER_SECONDS = 5
    never_started = _stale(
        image_job_create(user=user, prompt="a", size="1024x1024"), status="pending"
    )
    was_running = _stale(
        image_job_create(user=user, prompt="b", size="1024x1024"), status="running"
    )
    fresh = image_job_create(user=user, prompt="c", size="1024x1024")
    assert DailyUsage.objects.get(user=user).images == 3

    assert recover_stale_image_jobs(owner_id=user.pk) == 2

    statuses = dict(GeneratedImage.objects.values_list("pk", "status"))
    assert statuses == {
        never_started.pk: "interrupted",
        was_running.pk: "interrupted",
        fresh.pk: "pending",
    }
    # The one never started gives its image back; the running one stays counted and is
    # charged as an estimate (the provider may have made it).
    assert DailyUsage.objects.get(user=user).images == 2
    (record,) = UsageRecord.objects.filter(kind="image")
    assert record.calls == 1


# --- the generate_image tool in a turn -------------------------------------------------


async def _tool_result(conversation_id) -> dict:
    row = await sync_to_async(
        lambda: Message.objects.get(conversation_id=conversation_id, role="tool")
    )()
    return json.loads(row.content)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_the_tool_waits_for_its_job_and_the_reply_embeds_the_image(
    live, upstream, owner, cookie
):
    conversation = await sync_to_async(ConversationFactory)(owner=owner)
    upstream.enqueue(
        tool_calls([("generate_image", {"prompt": "縁側の猫"}, "call_img")]), reply("できました。")
    )
    upstream.enqueue_image(image_b64(PNG, delay=1.5))
    socket = await WS.connect(live, conversation.id, cookie)
    await socket.send({"type": "send", "content": "猫を描いて"})
    done = await socket.until("done", timeout=30)
    await socket.close()

    assert done["status"] == "complete"
    # The conversation's sockets got the job's events too, before the reply ended.
    events = [f["event"] for f in socket.received if f["type"] == "image_job"]
    assert events[0] == "progress" and events[-1] == "complete"
    result = await _tool_result(conversation.id)
    image = await sync_to_async(GeneratedImage.objects.get)(pk=result["image_id"])
    assert result["status"] == "complete" and image.status == "complete"
    assert result["markdown"] == f"![縁側の猫]({image.get_file_url()})"
    assert image.source_message_id is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
async def test_a_job_outlasting_the_tools_wait_goes_on_and_is_told_when_done(
    spawn_kaiwa, upstream, owner, cookie
):
    """The tool waits IMAGE_REQUEST_TIMEOUT; a retried image call takes longer. The reply
    says the image is being made, and the job completes by itself afterwards."""
    server = spawn_kaiwa("tool-wait", IMAGE_REQUEST_TIMEOUT="1.5", IMAGE_MAX_RETRIES="1")
    conversation = await sync_to_async(ConversationFactory)(owner=owner)
    upstream.enqueue(
        tool_calls([("generate_image", {"prompt": "港の夕焼け"}, "call_img")]),
        reply("いま描いています。"),
    )
    # The first attempt outlasts the timeout; the SDK's retry answers.
    upstream.enqueue_image(image_b64(PNG, delay=5), image_b64(PNG, delay=0.3))
    socket = await WS.connect(server, conversation.id, cookie)
    await socket.send({"type": "send", "content": "夕焼けを描いて"})
    done = await socket.until("done", timeout=30)
    assert done["status"] == "complete"
    result = await _tool_result(conversation.id)
    assert result["status"] == "running" and "/images/" in result["note"]

    told = [f for f in socket.received if f["type"] == "image_job" and f["event"] == "complete"]
    completed = told[0] if told else await image_event(socket, "complete")
    await socket.close()
    assert completed["image"]["id"] == result["image_id"]
    assert len(upstream.image_requests()) == 2


@pytest.mark.django_db
def test_the_usual_duration_is_the_median_of_the_users_finished_images(user, other_user):
    assert usual_image_seconds(user=user) == DEFAULT_USUAL_SECONDS
    start = timezone.now() - timedelta(minutes=5)
    for owner, seconds in [(user, 10), (user, 40), (user, 12), (other_user, 300)]:
        job = image_job_create(user=owner, prompt="p", size="1024x1024")
        GeneratedImage.objects.filter(pk=job.pk).update(
            status="complete",
            content_type="image/png",
            started_at=start,
            finished_at=start + timedelta(seconds=seconds),
        )
    assert usual_image_seconds(user=user) == 12


@pytest.mark.django_db(transaction=True)
def test_without_an_asgi_loop_the_job_is_run_to_its_end_in_the_request(
    api_client, llm_upstream, user
):
    # The test client is WSGI-like: no server loop would keep a spawned job running.
    llm_upstream.enqueue_image(image_b64(PNG, revised_prompt="Tokyo Tower"))

    response = api_client.post("/api/images/", BODY, format="json", headers=ASYNC)

    assert response.status_code == 202, response.content
    assert "Preference-Applied" not in response.headers  # not answered asynchronously
    job = response.json()
    assert job["status"] == "complete" and job["url"] == f"/api/images/{job['id']}/file/"
    assert response.headers["Location"] == f"/api/images/{job['id']}/"
    stored = GeneratedImage.objects.get(pk=job["id"])
    assert stored.status == "complete" and stored.charged and stored.file.read() == PNG
    assert [r.calls for r in UsageRecord.objects.filter(kind="image")] == [1]


@pytest.mark.django_db(transaction=True)
def test_the_synchronous_post_is_a_job_waited_for_with_the_same_rules(
    api_client, llm_upstream, user, settings
):
    settings.DAILY_IMAGE_QUOTA = 5
    refusal = {"error": {"message": "unsafe", "type": None, "code": "content_policy_violation"}}
    llm_upstream.enqueue_image(image_b64(PNG), error(400, refusal))

    made = api_client.post("/api/images/", BODY, format="json")

    assert made.status_code == 201, made.content
    image = made.json()
    assert image["status"] == "complete" and image["url"] == f"/api/images/{image['id']}/file/"
    job = GeneratedImage.objects.get(pk=image["id"])
    assert job.charged and job.started_at and job.finished_at and job.quota_day

    failed = api_client.post("/api/images/", BODY, format="json")

    assert failed.status_code == 422 and failed.json()["code"] == "content_filtered"
    # The provider made nothing: the image goes back to the day's quota, as a job's does;
    # the job stays listed with its error.
    assert DailyUsage.objects.get(user=user).images == 1
    listed = api_client.get("/api/images/").json()["results"]
    assert [(i["status"], (i["error"] or {}).get("code")) for i in listed] == [
        ("failed", "content_filtered"),
        ("complete", None),
    ]
    assert [r.calls for r in UsageRecord.objects.filter(kind="image")] == [1]
