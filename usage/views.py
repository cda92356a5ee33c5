"""The usage page: today against the limits, the last 30 days as a chart and a table."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from usage import selectors
from usage.chart import bar_chart


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    """The logged-in user's own usage; read-only."""
    context = {
        "today": selectors.usage_today(user=request.user),
        "chart": bar_chart(selectors.daily_tokens(user=request.user)),
        "records": selectors.usage_records(user=request.user),
        "window_days": selectors.WINDOW_DAYS,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "usage/usage.html", context)
