"""Image generation as a job: it outlives the request, the tab and the socket that asked.

    pending ──▶ running ──▶ complete | failed
        └─────────┴──(its runner's process died)──▶ interrupted

`image_job_create` counts the image against DAILY_IMAGE_QUOTA and stores the job `pending`
in one transaction (a refused job stores nothing). `spawn_image_job` runs it as a task that
belongs to no request or socket, like a turn (assistant/turn_runner/tasks.py); from a
sync view `spawn_image_job_from_thread` puts it on the ASGI server's loop, and without one
(WSGI) runs it to its end in the request. The runner says it is alive through
`live.liveness` (the same beat as the replies'), writes a database heartbeat, and tells
the owner's sockets (assistant/user_events.py) `image_job` events: `progress` when it
starts and at each heartbeat, then `complete` or `failed`.

The provider's image is charged to the usage ledger as soon as the provider has made it
(`charged`), in one transaction with the flag. A job that fails before that gives its
quota back. A job whose process died is found stale by `recover_stale_image_jobs` (the
same rule as a reply's: an old heartbeat and no live runner anywhere) and marked
`interrupted`; a running one is charged as an estimate then, since the provider may have
made the image, and a pending one gives its quota back.
"""

import asyncio
import contextvars
import logging
import os
import statistics
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from assistant.backends import get_backend
from assistant.backends.base import GeneratedImageData
from assistant.db_threads import in_db_thread
from assistant.errors import LLMError, UpstreamError
from assistant.images import FetchedImage, image_fetch, validate_image_request
from assistant.limits import image_quota_take, quota_check
from assistant.live.liveness import dead_among, running
from assistant.models import IMAGE_CONTENT_TYPES, GeneratedImage
from assistant.user_events import publish_user_event, publish_user_event_from_sync
from conversations.models import Message
from usage.models import UsageKind
from usage.services import image_give_back, usage_record

logger = logging.getLogger("kaiwa.images")

Status = GeneratedImage.Status
UNFINISHED = (Status.PENDING, Status.RUNNING)
EVENT_TYPE = "image_job"
# The usual duration before a user has any finished job: image models take 10 to 60 s.
DEFAULT_USUAL_SECONDS = 30.0
USUAL_FROM_LAST = 20  # finished jobs the median is taken over


# --- creating ------------------------------------------------------------------------


def image_job_create(
    *,
    user: Any,
    prompt: str,
    size: str,
    source_message: Message | None = None,
    check_tokens: bool = True,
) -> GeneratedImage:
    """Count one image against the user's quotas and store its job `pending`.

    `check_tokens=False` in a turn (the generate_image tool), whose tokens the turn has
    reserved: only the image quota is checked there.
    """
    validate_image_request(prompt=prompt, size=size)
    if check_tokens:
        quota_check(user=user)
    if source_message is not None and source_message.conversation.owner_id != user.pk:
        source_message = None
    with transaction.atomic():
        day = image_quota_take(user=user)  # Throttled rolls the whole job back
        return GeneratedImage.objects.create(
            owner=user,
            prompt=prompt,
            size=size,
            status=Status.PENDING,
            quota_day=day,
            source_message=source_message,
        )


# --- running -------------------------------------------------------------------------

# The jobs running in this process; also their strong references (asyncio keeps weak ones).
_running: dict[str, asyncio.Task] = {}


def spawn_image_job(job_id) -> asyncio.Task:
    """Run the job as a task of the running loop, detached from the caller (a fresh
    context, as a turn: the caller's request or socket may end first); the task's result
    is the stored job."""
    return _detached(job_id, run_image_job(job_id))


def _detached(job_id, coroutine) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
    key = str(job_id)
    _running[key] = task
    task.add_done_callback(lambda _: _running.pop(key, None))
    return task


def run_image_job_from_thread(job_id) -> GeneratedImage:
    """From a sync view's thread: run the job to its end and return it complete, or raise
    the error (LLMError) that failed it. On an ASGI server the job is a detached task of
    the server's loop that this thread waits for: a client that goes away leaves it running
    to its end, as a job asked for with `Prefer: respond-async`. Elsewhere (WSGI) it runs
    in this thread."""
    loop = _server_loop()
    if loop is None:
        job, error = async_to_sync(_run_image_job)(job_id)
    else:
        job, error = asyncio.run_coroutine_threadsafe(_run_detached(job_id), loop).result()
    if error is not None:
        raise error
    if job is None or job.status != Status.COMPLETE:  # gone, or recovered meanwhile
        raise UpstreamError(job.error_text if job is not None else "The image job was lost.")
    return job


async def _run_detached(job_id) -> tuple[GeneratedImage | None, LLMError | None]:
    return await asyncio.shield(_detached(job_id, _run_image_job(job_id)))


def spawn_image_job_from_thread(job_id) -> bool:
    """From a sync view's thread: True when the job was spawned onto the ASGI server's
    event loop (it runs on, whatever becomes of the request); False when there is no such
    loop (WSGI, a management command, the test client) and the job has been run to its end
    here instead, since a loop made for this call would cancel the task when it returns."""
    loop = _server_loop()
    if loop is None:
        async_to_sync(run_image_job)(job_id)
        return False
    asyncio.run_coroutine_threadsafe(_spawn(job_id), loop).result()
    return True


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop of the ASGI server whose sync_to_async thread this is: asgiref
    records it in this thread (as AsyncToSync reads it), None in any other thread."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    if loop is None or pid != os.getpid() or loop.is_closed() or not loop.is_running():
        return None
    return loop


async def _spawn(job_id) -> None:
    spawn_image_job(job_id)


async def run_image_job(job_id) -> GeneratedImage | None:
    """Generate the job's image to its end; returns the stored job (None if it is gone)."""
    job, _ = await _run_image_job(job_id)
    return job


async def _run_image_job(job_id) -> tuple[GeneratedImage | None, LLMError | None]:
    """`run_image_job`, and the error that failed the job (None: it did not fail here)."""
    # First, before any database work: readers must know this runner is alive.
    running.add(job_id)
    try:
        job = await _mark_running(job_id)
        if job is None:  # gone, or already run or recovered elsewhere
            return await _read(job_id), None
        usual = await _usual_seconds(user=job.owner)
        await publish_job_event(job, "progress", usual_seconds=usual)
        beat = asyncio.create_task(_beat(job, usual))
        error: LLMError | None = None
        try:
            fetched = await image_fetch(
                prompt=job.prompt, size=job.size, spent=lambda made: _charge(job, made)
            )
        except LLMError as exc:
            error = exc
        except Exception:  # a bug must not leave the job running forever
            logger.exception("image_job_crashed", extra={"image_id": str(job_id)})
            error = UpstreamError("The image generation failed unexpectedly.")
        finally:
            beat.cancel()
        if error is not None:
            job = await _fail(job, error)
        else:
            job = await _complete(job, fetched)
        await publish_job_event(
            job, "complete" if job.status == Status.COMPLETE else "failed", usual_seconds=usual
        )
        logger.info(
            "image_job_finished",
            extra={"image_id": str(job_id), "status": job.status, "code": job.error_code},
        )
        return job, error
    finally:
        running.discard(job_id)


@in_db_thread
def _mark_running(job_id) -> GeneratedImage | None:
    now = timezone.now()
    started = GeneratedImage.objects.filter(pk=job_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not started:
        return None
    return GeneratedImage.objects.select_related("owner").get(pk=job_id)


@in_db_thread
def _read(job_id) -> GeneratedImage | None:
    return GeneratedImage.objects.filter(pk=job_id).first()


async def _beat(job: GeneratedImage, usual: float) -> None:
    """The database heartbeat (for when the live store cannot tell) and a progress event,
    a few times per STREAM_STALE_AFTER_SECONDS."""
    while True:
        await asyncio.sleep(settings.STREAM_STALE_AFTER_SECONDS / 4)
        try:
            await _heartbeat(job.pk)
        except Exception:  # the next beat tries again; liveness still says we are alive
            logger.warning("image_job_heartbeat_failed", exc_info=True)
        await publish_job_event(job, "progress", usual_seconds=usual)


@in_db_thread
def _heartbeat(job_id) -> None:
    GeneratedImage.objects.filter(pk=job_id, status=Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )


@in_db_thread
def _charge(job: GeneratedImage, made: GeneratedImageData) -> None:
    """The provider made the image: it is spent, whatever its download gives."""
    usage = made.usage
    with transaction.atomic():
        usage_record(
            user=job.owner,
            kind=UsageKind.IMAGE,
            model=made.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            day=job.quota_day,
        )
        GeneratedImage.objects.filter(pk=job.pk).update(charged=True)


@in_db_thread
def _complete(job: GeneratedImage, fetched: FetchedImage) -> GeneratedImage:
    extension = IMAGE_CONTENT_TYPES[fetched.content_type]
    # upload_to replaces the name; only the extension is kept.
    job.file.save(f"image.{extension}", ContentFile(fetched.data), save=False)
    try:
        with transaction.atomic():
            done = GeneratedImage.objects.filter(pk=job.pk, status__in=UNFINISHED).update(
                status=Status.COMPLETE,
                file=job.file.name,
                content_type=fetched.content_type,
                byte_size=len(fetched.data),
                revised_prompt=fetched.revised_prompt,
                model=fetched.model,
                finished_at=timezone.now(),
                heartbeat_at=None,
            )
    except BaseException:
        job.file.delete(save=False)
        raise
    if not done:  # recovered as interrupted meanwhile (and settled): it stays so
        job.file.delete(save=False)
    return GeneratedImage.objects.get(pk=job.pk)


@in_db_thread
def _fail(job: GeneratedImage, error: LLMError) -> GeneratedImage:
    with transaction.atomic():
        failed = GeneratedImage.objects.filter(pk=job.pk, status__in=UNFINISHED).update(
            status=Status.FAILED,
            error_code=error.code,
            error_text=error.detail,
            finished_at=timezone.now(),
            heartbeat_at=None,
        )
        stored = GeneratedImage.objects.get(pk=job.pk)
        if failed and not stored.charged and stored.quota_day is not None:
            image_give_back(user=job.owner, day=stored.quota_day)
    return stored


# --- events --------------------------------------------------------------------------


def job_event(job: GeneratedImage, event: str, *, usual_seconds: float) -> dict[str, Any]:
    """An `image_job` socket event: `event` (progress, complete, failed) and the image as
    GET /api/images/{id}/ shows it."""
    # The REST shape, so a page handles an event and a GET alike.
    from assistant.api.tool_serializers import ImageOutputSerializer

    image = ImageOutputSerializer(job, context={"usual_seconds": usual_seconds}).data
    return {"type": EVENT_TYPE, "event": event, "image": dict(image)}


async def publish_job_event(job: GeneratedImage, event: str, *, usual_seconds: float) -> None:
    await publish_user_event(job.owner_id, job_event(job, event, usual_seconds=usual_seconds))


# --- reading -------------------------------------------------------------------------


def usual_image_seconds(*, user: Any) -> float:
    """How long the user's images usually take: the median of their last finished jobs."""
    spans = GeneratedImage.objects.filter(
        owner=user, status=Status.COMPLETE, started_at__isnull=False, finished_at__isnull=False
    ).order_by("-created_at")[:USUAL_FROM_LAST]
    seconds = [(s.finished_at - s.started_at).total_seconds() for s in spans]
    return round(statistics.median(seconds), 1) if seconds else DEFAULT_USUAL_SECONDS


_usual_seconds = in_db_thread(usual_image_seconds)


def recover_stale_image_jobs(*, owner_id=None, job_id=None) -> int:
    """Mark stale unfinished jobs `interrupted` and settle them; returns how many. Every
    reader of a job's state calls this first."""
    unfinished = GeneratedImage.objects.filter(status__in=UNFINISHED)
    if owner_id is not None:
        unfinished = unfinished.filter(owner_id=owner_id)
    if job_id is not None:
        unfinished = unfinished.filter(pk=job_id)
    # Look first; write only when something is to recover.
    ids = dead_among(unfinished)
    if not ids:
        return 0
    with transaction.atomic():
        recovered = _mark_interrupted(ids)
    for job in recovered:
        try:
            publish_user_event_from_sync(
                job.owner_id, job_event(job, "failed", usual_seconds=DEFAULT_USUAL_SECONDS)
            )
        except Exception:  # no loop to send from (start-up): readers see the stored state
            logger.warning("image_job_interrupt_not_announced", exc_info=True)
    return len(recovered)


def _mark_interrupted(ids: list) -> list[GeneratedImage]:
    recovered = []
    for job in GeneratedImage.objects.select_related("owner").filter(
        pk__in=ids, status__in=UNFINISHED
    ):
        marked = GeneratedImage.objects.filter(pk=job.pk, status=job.status).update(
            status=Status.INTERRUPTED,
            error_code="interrupted",
            error_text="The server stopped while this image was being generated.",
            finished_at=timezone.now(),
            heartbeat_at=None,
        )
        if not marked:  # finished or recovered meanwhile by another process
            continue
        if not job.charged and job.status == Status.RUNNING:
            # The provider may have made (and charged) the image before the process died.
            usage_record(
                user=job.owner,
                kind=UsageKind.IMAGE,
                model=_image_model(),
                estimated=True,
                day=job.quota_day,
            )
        elif not job.charged and job.quota_day is not None:
            image_give_back(user=job.owner, day=job.quota_day)
        job.refresh_from_db()
        recovered.append(job)
    return recovered


def _image_model() -> str:
    try:
        return getattr(get_backend(), "image_model", "") or ""
    except Exception:  # no usable backend configured: the call is recorded without a model
        return ""
