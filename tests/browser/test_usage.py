"""The usage page in Chromium: the SVG chart draws under the CSP, on a desktop and a phone."""

import datetime

import pytest
from django.utils import timezone
from playwright.async_api import expect

from tests.usage.factories import DailyUsageFactory, UsageRecordFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

BAR_HEIGHTS = """() => [...document.querySelectorAll('#usage-chart .usage-chart__bar')]
  .map((bar) => bar.getBoundingClientRect().height)"""


@pytest.fixture
def spending(page_user):
    today = timezone.localdate()
    for days_ago, tokens in ((0, 4_000), (1, 1_000), (10, 2_000)):
        day = today - datetime.timedelta(days=days_ago)
        DailyUsageFactory(user=page_user, day=day, tokens=tokens)
        UsageRecordFactory(user=page_user, day=day, model="gpt-browser", kind="search")
    return page_user


async def test_the_chart_draws_bars_in_proportion(browsing, spending):
    await browsing.login_as(spending)
    page = browsing.page
    await page.goto("/usage/")
    await expect(page.locator("h1")).to_have_text("使用量")
    heights = await page.evaluate(BAR_HEIGHTS)
    assert len(heights) == 30
    # Oldest first: today is the last bar, yesterday the one before, ten days ago the 20th.
    assert heights[-1] > 100
    assert heights[-2] == pytest.approx(heights[-1] / 4, rel=0.02)
    assert heights[19] == pytest.approx(heights[-1] / 2, rel=0.02)
    assert sum(1 for h in heights if h > 0) == 3
    # The stylesheet's colour reached the bars (nothing was refused by the CSP).
    fill = await page.evaluate(
        "() => getComputedStyle(document.querySelector('.usage-chart__bar')).fill"
    )
    accent = await page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    red, green, blue = (int(accent[i : i + 2], 16) for i in (1, 3, 5))
    assert fill == f"rgb({red}, {green}, {blue})"
    # The table fallback opens from the keyboard.
    await page.locator(".usage-chart__table summary").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#usage-chart-table")).to_be_visible()
    await expect(page.locator("#usage-chart-table tbody tr")).to_have_count(30)
    browsing.watch.assert_clean()


async def test_the_page_fits_a_phone(phone_browsing, spending):
    await phone_browsing.login_as(spending)
    page = phone_browsing.page
    await page.goto("/usage/")
    await expect(page.locator("#usage-chart")).to_be_visible()
    assert await page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    width = await page.evaluate(
        "() => document.querySelector('#usage-chart').getBoundingClientRect().width"
    )
    assert 250 < width <= 390
    # The kind column stays visible on a phone (the token table's rule hides third columns).
    await expect(page.locator("#usage-records tbody td").nth(2)).to_be_visible()
    phone_browsing.watch.assert_clean()
