"""The report's chart as a PNG: MTTA and MTTR over time (monthly), and revenue protection effectiveness by team.

Drawn with matplotlib's Agg canvas on a `Figure` of its own (not pyplot): no display is needed (CI, servers), and
nothing global is shared, so charts can be drawn on a worker thread while the bot serves. CPU-bound: the bot calls
`render_png` off its event loop.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.domain.reports import ReportRow, TrendPoint
from bot.render.format import percent

MTTA_LABEL, MTTR_LABEL = "MTTA", "MTTR"


def build_figure(trend: Sequence[TrendPoint], by_team: Sequence[ReportRow], title: str = "") -> Figure:
    figure = Figure(figsize=(11, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    over_time, teams = figure.subplots(1, 2, width_ratios=(3, 2))
    months = [p.month for p in trend]
    for label, values in ((MTTA_LABEL, [p.mtta for p in trend]), (MTTR_LABEL, [p.mttr for p in trend])):
        points = [(i, v / 60.0) for i, v in enumerate(values) if v is not None and v > 0]
        over_time.plot([i for i, _ in points], [v for _, v in points], marker="o", markersize=3, label=label)
    over_time.set_yscale("log")  # minutes to acknowledge and hours to restore, both readable
    over_time.set_ylabel("minutes (log scale)")
    over_time.set_title("MTTA and MTTR by month")
    step = max(1, len(months) // 12)
    over_time.set_xticks(range(0, len(months), step), [months[i] for i in range(0, len(months), step)],
                         rotation=45, ha="right", fontsize=8)
    if trend:
        over_time.legend()
    rated = [r for r in by_team if r.effectiveness is not None]
    names = [r.group for r in rated]
    percents = [100.0 * (r.effectiveness or 0.0) for r in rated]
    bars = teams.bar(names, percents, color=["#2a9d8f" if p >= 0 else "#e76f51" for p in percents])
    teams.bar_label(bars, labels=[percent(p, places=0) for p in percents], fontsize=8)
    teams.axhline(0, color="black", linewidth=0.8)
    teams.set_ylabel("revenue protected (%)")
    teams.set_title("Revenue protection effectiveness by team")
    if title:
        figure.suptitle(title)
    return figure


def render_png(trend: Sequence[TrendPoint], by_team: Sequence[ReportRow], title: str = "") -> bytes:
    figure = build_figure(trend, by_team, title)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
