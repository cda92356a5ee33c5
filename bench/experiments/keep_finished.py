"""Proposed fix: a WebSocket consumer keeps the follower of a reply that has ended.

Today `ConversationConsumer._forward` forgets the follower when it forwards `done`/`error`.
Any event of that reply arriving afterwards — the live `done` after the dead-turn watchdog
already closed the reply from the database, or deltas still queued behind a catch-up —
makes `_follower()` create a fresh follower (last_seq 0), whose `feed()` sees a gap and
replays the whole event log to the client: the reply again, once per late event. The
overlay patches the consumer at start-up (an app's ready()) to keep finished followers and
drop their events.
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.experiments.keep_finished_app"]
