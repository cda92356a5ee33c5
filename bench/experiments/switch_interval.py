"""Shorter GIL switch interval (0.5 ms instead of 5 ms) in the server processes.

Every ORM call of a turn runs on a thread (sync_to_async / the turn DB threads) and needs
the GIL back from the event loop thread, which under load holds it for up to the switch
interval at a time: each thread hand-off can cost up to 5 ms. This overlay measures how
much of the added latency that is.
"""

import sys

from config.settings import *  # noqa: F403

sys.setswitchinterval(0.0005)
