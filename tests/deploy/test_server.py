"""`python -m config.server`: daphne, on uvloop's event loop."""

import json

import pytest

from assistant.startup import server_event_loop
from config.server import install_uvloop


def _startup_records(log: str) -> list[dict]:
    records = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "kaiwa.startup":
                records.append(record)
    return records


@pytest.mark.django_db(transaction=True)
def test_the_server_runs_daphne_on_uvloop(live):
    # The live test servers start with `python -m config.server`, as the image does.
    starting = [
        r for r in _startup_records(live.log_path.read_text()) if r["message"] == "process_starting"
    ]
    assert [r["event_loop"] for r in starting] == ["uvloop"]


def test_uvloop_cannot_be_installed_once_daphne_made_its_loop():
    # Django's app registry imported daphne.server in this process (daphne is an installed
    # app), so its loop exists already: asyncio's, which is what plain `daphne` gives.
    assert server_event_loop() == "asyncio"
    with pytest.raises(RuntimeError, match="daphne.server was imported first"):
        install_uvloop()
