"""What a server process does once it has started (config/asgi.py)."""

import json

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _records(log: str, message: str) -> list[dict]:
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == message:
                found.append(record)
    return found


def test_a_server_process_freezes_what_startup_made(live):
    # Over a real daphne process: gc.freeze() ran once, after the application was built, and
    # took the startup objects (Django, DRF, the SDK, Channels: well over 50,000) with it.
    frozen = _records(live.log_path.read_text(errors="replace"), "startup_objects_frozen")
    assert len(frozen) == 1
    assert frozen[0]["objects"] > 50_000


def test_a_server_process_lets_its_event_loop_take_the_gil_back_within_half_a_millisecond(live):
    # Python's default is 5 ms: the loop waited that long for the GIL behind a database thread.
    from assistant.startup import GIL_SWITCH_INTERVAL_SECONDS

    assert GIL_SWITCH_INTERVAL_SECONDS == 0.0005
    records = _records(live.log_path.read_text(errors="replace"), "gil_switch_interval_set")
    assert len(records) == 1
    assert records[0]["seconds"] == pytest.approx(GIL_SWITCH_INTERVAL_SECONDS)
