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
