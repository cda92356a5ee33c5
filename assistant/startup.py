"""What an ASGI process does before it serves: check configuration, recover stale replies."""

import logging
import sys

from django.db import DatabaseError

logger = logging.getLogger("kaiwa.startup")


def prepare_process() -> None:
    """Raise SystemCheckError on LLM misconfiguration; mark dead processes' replies."""
    from assistant.checks import run_startup_checks
    from assistant.recovery import recover_stale_replies

    run_startup_checks()
    logger.info("process_starting", extra={"event_loop": server_event_loop()})
    try:
        recovered = recover_stale_replies()
    except DatabaseError:
        # Not migrated yet (first start): nothing to recover.
        logger.warning("startup_recovery_skipped")
        return
    if recovered:
        logger.info("stale_replies_interrupted", extra={"count": recovered})


def server_event_loop() -> str | None:
    """Whose event loop daphne serves on ("uvloop" or "asyncio"); None outside daphne.

    Daphne made it when `daphne.server` was imported; `python -m config.server` makes it
    uvloop's, plain `daphne` asyncio's.
    """
    loop = getattr(sys.modules.get("daphne.server"), "twisted_loop", None)
    return None if loop is None else type(loop).__module__.partition(".")[0]
