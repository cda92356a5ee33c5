"""The runner's coalescer: joins deltas that queue up behind a slow publish, loses none."""

import asyncio

import pytest

from assistant.turn_runner.coalescer import Coalescer


class SlowPublisher:
    """Stands in for publishing a delta: each publish takes `delay` (a Redis round trip)."""

    def __init__(self, delay: float, fail_on: int | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.events: list[str] = []

    async def publish(self, text: str) -> int:
        if self.fail_on is not None and len(self.events) == self.fail_on:
            raise ConnectionError("redis went away")
        await asyncio.sleep(self.delay)
        self.events.append(text)
        return len(self.events)


async def test_deltas_arriving_during_a_slow_publish_go_out_together():
    publisher = SlowPublisher(delay=0.05)
    coalescer = Coalescer(publisher.publish, window=0.0)
    pieces = [f"p{i} " for i in range(20)]
    for piece in pieces:
        await coalescer.add(piece)
        await asyncio.sleep(0.005)
    await coalescer.flush()
    assert "".join(publisher.events) == "".join(pieces)
    assert publisher.events[0] == "p0 "  # the first delta is not held back
    assert len(publisher.events) <= 5  # ~100 ms of adds behind 50 ms publishes


async def test_a_fast_publisher_gets_every_delta_on_its_own():
    publisher = SlowPublisher(delay=0)
    coalescer = Coalescer(publisher.publish, window=0.0)
    for piece in ["a", "b", "c"]:
        await coalescer.add(piece)
        await asyncio.sleep(0.01)
    await coalescer.flush()
    assert publisher.events == ["a", "b", "c"]


async def test_flush_does_not_wait_out_the_window():
    publisher = SlowPublisher(delay=0)
    coalescer = Coalescer(publisher.publish, window=30.0)
    await coalescer.add("a")
    await asyncio.sleep(0.01)
    await coalescer.add("b")
    await asyncio.wait_for(coalescer.flush(), timeout=2)
    assert publisher.events == ["a", "b"]


async def test_a_failed_publish_fails_the_next_add_or_flush():
    publisher = SlowPublisher(delay=0, fail_on=1)
    coalescer = Coalescer(publisher.publish, window=0.0)
    await coalescer.add("a")
    await asyncio.sleep(0.01)
    await coalescer.add("b")
    await asyncio.sleep(0.01)
    with pytest.raises(ConnectionError):
        await coalescer.add("c")
