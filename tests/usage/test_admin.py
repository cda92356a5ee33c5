"""The admin's usage report: read-only ledger, totals of the filtered rows, CSV export."""

import csv
import datetime
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.factories import UserFactory
from tests.usage.factories import DailyUsageFactory, UsageRecordFactory
from usage.models import DailyUsage, UsageRecord

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/usage/usagerecord/"
EXPORT = "/admin/usage/usagerecord/export/"


@pytest.fixture
def staff_client(client):
    admin = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.fixture
def ledger(user, other_user):
    """Rows on three days: 1 December, 15 November (twice) and 31 October 2026."""
    day = datetime.date
    return [
        UsageRecordFactory(
            user=user,
            day=day(2026, 12, 1),
            model="gpt-a",
            prompt_tokens=1000,
            completion_tokens=200,
            estimated_tokens=30,
            calls=4,
        ),
        UsageRecordFactory(
            user=other_user,
            day=day(2026, 11, 15),
            model="gpt-b",
            kind="image",
            prompt_tokens=70,
            completion_tokens=0,
            calls=2,
        ),
        UsageRecordFactory(
            user=user,
            day=day(2026, 11, 15),
            model="gpt-a",
            kind="search",
            prompt_tokens=5,
            completion_tokens=6,
            estimated_tokens=11,
            calls=1,
        ),
        UsageRecordFactory(
            user=user, day=day(2026, 10, 31), prompt_tokens=9000, completion_tokens=900, calls=9
        ),
    ]


def _totals(html: str) -> dict[str, int]:
    cells = re.findall(r'<td data-total="(\w+)">(\d+)</td>', html)
    return {name: int(value) for name, value in cells}


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_changelist_lists_the_columns_and_totals_every_row(staff_client, ledger):
    html = staff_client.get(CHANGELIST).content.decode()
    for column in ("user", "day", "model", "kind", "prompt_tokens", "completion_tokens"):
        assert f"column-{column}" in html, column
    assert "column-estimated_tokens" in html and "column-calls" in html
    assert _totals(html) == {
        "rows": 4,
        "prompt_tokens": 10075,
        "completion_tokens": 1106,
        "total_tokens": 11181,
        "estimated_tokens": 41,
        "calls": 16,
    }


def test_totals_follow_the_date_range(staff_client, ledger):
    page = staff_client.get(CHANGELIST, {"day__gte": "2026-11-01", "day__lte": "2026-11-30"})
    html = page.content.decode()
    assert page.status_code == 200
    assert _totals(html) == {
        "rows": 2,
        "prompt_tokens": 75,
        "completion_tokens": 6,
        "total_tokens": 81,
        "estimated_tokens": 11,
        "calls": 3,
    }
    # The range is kept in the filter's form and in the export link.
    assert 'name="day__gte" value="2026-11-01"' in html
    assert re.search(r'href="/admin/usage/usagerecord/export/\?[^"]*day__gte=2026-11-01', html)


def test_totals_follow_one_sided_ranges_search_and_other_filters(staff_client, ledger, user):
    since = staff_client.get(CHANGELIST, {"day__gte": "2026-11-15"}).content.decode()
    assert _totals(since)["rows"] == 3 and _totals(since)["calls"] == 7
    until = staff_client.get(CHANGELIST, {"day__lte": "2026-11-15"}).content.decode()
    assert _totals(until)["rows"] == 3 and _totals(until)["calls"] == 12
    searched = staff_client.get(CHANGELIST, {"q": "mallory"}).content.decode()
    assert _totals(searched)["rows"] == 1 and _totals(searched)["prompt_tokens"] == 70
    by_kind = staff_client.get(CHANGELIST, {"kind__exact": "search"}).content.decode()
    assert _totals(by_kind)["total_tokens"] == 11


def test_an_invalid_date_is_refused_not_ignored(staff_client, ledger):
    response = staff_client.get(CHANGELIST, {"day__gte": "yesterday"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
    export = staff_client.get(EXPORT, {"day__gte": "yesterday"})
    assert export.status_code == 302 and export["Location"].endswith("?e=1")


def test_csv_export_has_the_filtered_rows(staff_client, ledger):
    response = staff_client.get(
        EXPORT, {"day__gte": "2026-11-01", "day__lte": "2026-11-30", "o": "-4"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="usage-')
    rows = _csv(response)
    assert rows[0] == [
        "user",
        "day",
        "model",
        "kind",
        "prompt_tokens",
        "completion_tokens",
        "estimated_tokens",
        "calls",
    ]
    # Ordered as the changelist was (prompt tokens, descending).
    assert rows[1:] == [
        ["mallory", "2026-11-15", "gpt-b", "image", "70", "0", "0", "2"],
        ["alice", "2026-11-15", "gpt-a", "search", "5", "6", "11", "1"],
    ]


def test_csv_export_has_every_row_not_one_page(staff_client, user):
    today = timezone.localdate()
    for n in range(120):
        UsageRecordFactory(user=user, day=today - datetime.timedelta(days=n))
    assert len(_csv(staff_client.get(EXPORT))) == 1 + 120
    assert len(_csv(staff_client.get(EXPORT, {"q": "nobody"}))) == 1


def test_csv_export_defuses_spreadsheet_formulas(staff_client):
    UsageRecordFactory(user=UserFactory(username="=cmd"), model="@SUM(A1)")
    UsageRecordFactory(user=None, model="gpt-日本語")
    rows = sorted(_csv(staff_client.get(EXPORT))[1:])
    assert [row[:3] for row in rows] == [
        ["", rows[0][1], "gpt-日本語"],
        ["'=cmd", rows[1][1], "'@SUM(A1)"],
    ]


def test_non_staff_cannot_see_or_export(client, user, ledger):
    client.force_login(user)
    for url in (CHANGELIST, EXPORT, "/admin/usage/dailyusage/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_staff_without_the_view_permission_cannot_export(client, ledger):
    clerk = UserFactory(username="clerk", is_staff=True)
    client.force_login(clerk)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(EXPORT).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_usagerecord"))
    assert client.get(EXPORT).status_code == 200


def test_rows_cannot_be_added_changed_or_deleted(staff_client, ledger, user):
    record = ledger[0]
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    change_url = f"{CHANGELIST}{record.pk}/change/"
    page = staff_client.get(change_url).content.decode()
    assert 'name="prompt_tokens"' not in page and "gpt-a" in page  # shown, not editable
    response = staff_client.post(change_url, {"prompt_tokens": "1", "calls": "1"})
    assert response.status_code == 403
    assert staff_client.post(f"{CHANGELIST}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = staff_client.get(CHANGELIST).content.decode()
    assert 'name="action"' not in listing and "usagerecord/add/" not in listing
    record.refresh_from_db()
    assert (record.prompt_tokens, UsageRecord.objects.count()) == (1000, 4)


def test_daily_usage_is_listed_read_only(staff_client, user):
    row = DailyUsageFactory(user=user, tokens=4321, reserved_tokens=12, images=3)
    html = staff_client.get("/admin/usage/dailyusage/", {"q": "alice"}).content.decode()
    assert ">4321<" in html and ">12<" in html
    assert staff_client.get("/admin/usage/dailyusage/add/").status_code == 403
    change_url = f"/admin/usage/dailyusage/{row.pk}/change/"
    assert staff_client.post(change_url, {"tokens": "0"}).status_code == 403
    delete_url = f"/admin/usage/dailyusage/{row.pk}/delete/"
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert DailyUsage.objects.get(pk=row.pk).tokens == 4321
