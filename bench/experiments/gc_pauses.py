"""Log every garbage collection of 5 ms or more to the server's log (GC_PAUSE lines).

A full collection stops the event loop: every relayed token waits for it. This overlay
shows how long they take under load:

    python -m bench --n 50,200 --settings bench.experiments.gc_pauses --keep-workdir
    grep GC_PAUSE /tmp/kaiwa-bench-*/n200-1/daphne-0.log
"""

import gc
import sys
import time

from config.settings import *  # noqa: F403

_started = 0.0


def _timed(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    ms = (time.perf_counter() - _started) * 1000
    if ms >= 5:
        sys.stderr.write(f"GC_PAUSE generation={info['generation']} ms={ms:.1f}\n")


gc.callbacks.append(_timed)
