"""Concurrent sends against a real daphne server land within one turn of the daily quota:
each turn reserves its estimate under the day's row lock, so the ones that start while
others run see their share. Run also on PostgreSQL (DATABASE_URL)."""

import asyncio

import aiohttp
import pytest
from asgiref.sync import sync_to_async

from accounts.models import UserQuota
from accounts.services import api_token_create
from tests.fakes.openai_server import reply
from usage.models import DailyUsage, TurnReservation, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

SENDS = 8
TURN_COST = (50, 1000)  # prompt, completion: 1,050 tokens, below one turn's reservation
LIMIT = 4000


async def test_parallel_sends_land_within_one_turn_of_the_quota(live, upstream, user):
    await sync_to_async(UserQuota.objects.create)(user=user, daily_token_limit=LIMIT)
    _, token = await sync_to_async(api_token_create)(user=user)
    # Slow answers: every send arrives while the first turns still run.
    upstream.enqueue(*[reply("はい", usage=TURN_COST, delay=0.5) for _ in range(SENDS)])

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def send(i: int) -> int:
            async with http.post(f"{live.url}/api/chat/", json={"message": f"同時{i}"}) as r:
                if r.status == 429:
                    assert (await r.json())["code"] == "throttled"
                return r.status

        statuses = await asyncio.gather(*[send(i) for i in range(SENDS)])

    served = statuses.count(200)
    assert served + statuses.count(429) == SENDS, statuses
    assert served >= 1
    record = await sync_to_async(UsageRecord.objects.get)(user=user, kind="chat")
    charged = record.total_tokens
    assert charged == served * sum(TURN_COST)
    # Without reservations all eight would run: 8,400 tokens against a limit of 4,000.
    assert charged <= LIMIT + sum(TURN_COST)
    row = await sync_to_async(DailyUsage.objects.get)(user=user)
    assert (row.tokens, row.reserved_tokens) == (charged, 0)
    assert not await sync_to_async(TurnReservation.objects.exists)()
