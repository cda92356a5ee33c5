"""What an ASGI process does before it serves: check configuration, recover stale replies
and image jobs."""

import gc
import logging

from django.db import DatabaseError

logger = logging.getLogger("kaiwa.startup")


def prepare_process() -> None:
    """Raise SystemCheckError on LLM misconfiguration; mark dead processes' replies."""
    from assistant.checks import run_startup_checks
    from assistant.image_jobs import recover_stale_image_jobs
    from assistant.reply_lifecycle import recover_stale_replies

    run_startup_checks()
    try:
        recovered = recover_stale_replies()
        jobs = recover_stale_image_jobs()
    except DatabaseError:
        # Not migrated yet (first start): nothing to recover.
        logger.warning("startup_recovery_skipped")
        return
    if recovered:
        logger.info("stale_replies_interrupted", extra={"count": recovered})
    if jobs:
        logger.info("stale_image_jobs_interrupted", extra={"count": jobs})


def freeze_startup_objects() -> None:
    """Leave what startup made out of every later garbage collection.

    Django, DRF, the SDK, Channels and Twisted leave some 130,000–200,000 objects that live
    as long as the process, and every full collection walks them all: in the relay
    benchmark these took 110–170 ms under load, during which the event loop relays nothing.
    Frozen (Python's gc.freeze), they are skipped; the full collections of the same load
    took 8–25 ms.
    """
    gc.collect()
    gc.freeze()
    logger.info("startup_objects_frozen", extra={"objects": gc.get_freeze_count()})
