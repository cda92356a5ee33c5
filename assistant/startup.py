"""What an ASGI process does before it serves: check configuration, recover stale replies."""

import logging

from django.db import DatabaseError

logger = logging.getLogger("kaiwa.startup")


def prepare_process() -> None:
    """Raise SystemCheckError on LLM misconfiguration; mark dead processes' replies."""
    from assistant.checks import run_startup_checks
    from assistant.recovery import recover_stale_replies

    run_startup_checks()
    try:
        recovered = recover_stale_replies()
    except DatabaseError:
        # Not migrated yet (first start): nothing to recover.
        logger.warning("startup_recovery_skipped")
        return
    if recovered:
        logger.info("stale_replies_interrupted", extra={"count": recovered})
