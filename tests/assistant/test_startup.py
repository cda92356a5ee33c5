"""What an ASGI process does before it serves (assistant/startup.py)."""

import sys

import pytest

from assistant.startup import prepare_process


@pytest.fixture
def restore_switch_interval():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.django_db
def test_server_process_gets_the_configured_gil_switch_interval(settings, restore_switch_interval):
    sys.setswitchinterval(0.005)
    settings.SERVER_GIL_SWITCH_INTERVAL_MS = 0.5

    prepare_process()

    assert sys.getswitchinterval() == pytest.approx(0.0005)


@pytest.mark.django_db
def test_zero_keeps_pythons_switch_interval(settings, restore_switch_interval):
    sys.setswitchinterval(0.005)
    settings.SERVER_GIL_SWITCH_INTERVAL_MS = 0

    prepare_process()

    assert sys.getswitchinterval() == pytest.approx(0.005)
