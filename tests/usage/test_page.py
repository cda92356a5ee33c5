"""The usage page: today's figures, the 30-day SVG chart and the table, the user's own only."""

import datetime
import re
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from tests.pages.html_checks import csp_problems
from tests.usage.factories import DailyUsageFactory, UsageRecordFactory

pytestmark = pytest.mark.django_db

URL = "/usage/"


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def _days_ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


class _Bars(HTMLParser):
    """The chart's <rect> bars, with their attributes."""

    def __init__(self):
        super().__init__()
        self.bars: list[dict[str, str]] = []
        self.in_chart = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and attrs.get("id") == "usage-chart":
            self.in_chart = True
        elif tag == "rect" and self.in_chart and "usage-chart__bar" in attrs.get("class", ""):
            self.bars.append(attrs)

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_chart = False


def _bars(html: str) -> list[dict[str, str]]:
    parser = _Bars()
    parser.feed(html)
    return parser.bars


def test_shows_the_users_numbers_and_not_another_users(logged_in, user, other_user, settings):
    settings.DAILY_TOKEN_QUOTA = 20_000
    settings.DAILY_IMAGE_QUOTA = 10
    DailyUsageFactory(user=user, tokens=12_345, reserved_tokens=655, images=3)
    UsageRecordFactory(
        user=user, model="gpt-alice", kind="search", prompt_tokens=4_321, completion_tokens=987
    )
    DailyUsageFactory(user=other_user, tokens=99_999, images=8)
    UsageRecordFactory(user=other_user, model="gpt-mallory", prompt_tokens=55_555)

    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "12,345 of 20,000" in html
    assert "7,000 left today" in html  # 20,000 - 12,345 charged - 655 reserved
    assert "655 more are held by replies still being written" in html
    assert "3 of 10" in html and "7 left today" in html
    assert 'max="20000" value="13000"' in html  # the meter counts the reservation too
    rows = re.findall(r"<tr data-usage-row>(.*?)</tr>", html, re.S)
    assert len(rows) == 1
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)]
    assert cells[1:] == ["gpt-alice", "search", "4,321", "987", "1"]
    assert "gpt-mallory" not in html and "99,999" not in html and "55,555" not in html


def test_unlimited_shows_no_limit(logged_in, user, settings):
    settings.DAILY_TOKEN_QUOTA = 0
    settings.DAILY_IMAGE_QUOTA = 0
    DailyUsageFactory(user=user, tokens=800, images=2)
    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "800 (no limit)" in html and "2 (no limit)" in html
    assert "<meter" not in html and "left today" not in html


def test_the_chart_has_one_bar_per_day_proportional_to_tokens(logged_in, user, other_user):
    tokens = {0: 1_000, 1: 250, 7: 500, 29: 100, 30: 5_000}  # 30 days ago is outside
    for n, value in tokens.items():
        DailyUsageFactory(user=user, day=_days_ago(n), tokens=value)
    DailyUsageFactory(user=other_user, day=_days_ago(2), tokens=9_000)

    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    bars = _bars(html)

    assert len(bars) == 30
    assert [b["data-day"] for b in bars] == [_days_ago(n).isoformat() for n in range(29, -1, -1)]
    by_day = {b["data-day"]: b for b in bars}
    expected = {_days_ago(n).isoformat(): tokens.get(n, 0) for n in range(30)}
    assert {day: int(b["data-tokens"]) for day, b in by_day.items()} == expected
    # Heights are proportional to tokens: the busiest day (1,000) has the full height.
    full = float(by_day[_days_ago(0).isoformat()]["height"])
    assert full > 100
    for day, value in expected.items():
        assert float(by_day[day]["height"]) == pytest.approx(full * value / 1_000, abs=0.01)
        # Every bar stands on the same baseline.
        bar = by_day[day]
        assert float(bar["y"]) + float(bar["height"]) == pytest.approx(
            float(by_day[_days_ago(0).isoformat()]["y"]) + full
        )
    # Bars go left to right in date order and do not overlap.
    xs = [float(b["x"]) for b in bars]
    assert xs == sorted(xs) and xs[1] - xs[0] > float(bars[0]["width"])


def test_the_chart_is_described_for_screen_readers(logged_in, user):
    DailyUsageFactory(user=user, day=_days_ago(3), tokens=1_500)
    DailyUsageFactory(user=user, tokens=500)
    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    svg = html[html.index('<svg class="usage-chart"') : html.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="usage-chart-title usage-chart-desc"' in svg
    assert '<title id="usage-chart-title">Tokens per day</title>' in svg
    desc = re.search(r'<desc id="usage-chart-desc">(.*?)</desc>', svg, re.S).group(1)
    assert "2,000 tokens in all, at most 1,500 in one day" in desc
    assert svg.count("<title>") == 30  # one per bar
    assert ": 1,500 tokens</title>" in svg
    # The same figures as a table.
    table = html[html.index('id="usage-chart-table"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 31 and "1,500" in table


def test_a_user_without_usage_gets_a_flat_chart_and_an_empty_note(logged_in):
    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    bars = _bars(html)
    assert len(bars) == 30 and {b["height"] for b in bars} == {"0.0"}
    assert "No usage in the last 30 days." in html


def test_the_japanese_page_is_in_japanese(logged_in, user, settings):
    settings.DAILY_TOKEN_QUOTA = 10_000
    DailyUsageFactory(user=user, tokens=1_234)
    UsageRecordFactory(user=user, kind="image")
    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="ja">' in html
    for text in ("<h1>使用量</h1>", "今日", "1日あたりのトークン", "日付・モデル・種類別"):
        assert text in html, text
    assert "1,234 / 上限 10,000" in html and "今日の残り 8,766" in html
    assert "<td>画像</td>" in html  # the kind, translated
    assert "1,234 トークン</title>" in html
    for english in ("Tokens per day", "Today", "left today", "By day, model and kind"):
        assert english not in html, english


def test_the_navigation_links_the_page(logged_in):
    html = logged_in.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<a href="/usage/" aria-current="page">Usage</a>' in html
    notes = logged_in.get("/notes/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<a href="/usage/">Usage</a>' in notes


def test_the_page_is_csp_clean(logged_in, user):
    DailyUsageFactory(user=user, tokens=10)
    UsageRecordFactory(user=user, model="<script>alert(1)</script>")
    html = logged_in.get(URL).content.decode()
    assert csp_problems(html) == []
    assert "<script>alert(1)</script>" not in html


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/usage/"
