"""The geometry of the usage page's bar chart, drawn by the template as SVG.

Server-rendered on purpose: the site's CSP allows no inline script or style, and a chart
library would be a large script for thirty rectangles. Every size here is an SVG attribute.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from usage.selectors import DayTokens

WIDTH = 600
HEIGHT = 220
# Room for the value labels on the left and the date labels below.
LEFT = 56
RIGHT = 8
TOP = 12
BOTTOM = 28
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BASELINE = TOP + PLOT_HEIGHT
# The share of each day's slot that its bar fills; the rest is the gap between bars.
BAR_FILL = 0.7


@dataclass(frozen=True)
class Bar:
    day: datetime.date
    tokens: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label_x(self) -> float:
        return round(self.x + self.width / 2, 2)


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = BASELINE

    @property
    def first(self) -> Bar:
        return self.bars[0]

    @property
    def last(self) -> Bar:
        return self.bars[-1]


def bar_chart(days: list[DayTokens]) -> BarChart:
    """One bar per day, its height proportional to the day's tokens (the peak fills the plot)."""
    peak = max((d.tokens for d in days), default=0)
    slot = PLOT_WIDTH / max(len(days), 1)
    bars = []
    for n, day in enumerate(days):
        height = PLOT_HEIGHT * day.tokens / peak if peak else 0.0
        bars.append(
            Bar(
                day=day.day,
                tokens=day.tokens,
                x=round(LEFT + n * slot + slot * (1 - BAR_FILL) / 2, 2),
                y=round(BASELINE - height, 2),
                width=round(slot * BAR_FILL, 2),
                height=round(height, 2),
            )
        )
    return BarChart(bars=bars, peak=peak, total=sum(d.tokens for d in days))
