"""The behaviour report: a self-contained HTML page of charts and a per-day summary, read from the warehouse.

It reads only published (quality-gated) gold tables, through the same warehouse interface as
``detak sql``, so it works on the DuckDB file and on PostgreSQL alike. Every query aggregates in
the warehouse: what comes back is bounded by days × hours, steps or reasons, never by rows.
Charts are drawn by plotly, whose JavaScript is inlined once, so the page opens offline.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.common.config import Settings
from jobs.publish.warehouse import Warehouse, warehouse

#: The charts of the report, in page order: (element id, title).
CHARTS = (
    ("traffic", "Hourly traffic, shop local time"),
    ("funnel", "Funnel by day: conversion from the first step"),
    ("abandonment", "Cart abandonment reasons by day"),
    ("cart_risk", "Open carts: value at risk by top reason (newest scoring in the period)"),
    ("zero_results", "Top zero-result searches"),
    ("bots", "Bot share of all events, by hour"),
    ("purchase_heatmap", "Orders by local hour and day (time of purchase)"),
)


@dataclass(frozen=True)
class DaySummary:
    date: date
    sessions: int
    conversion: float
    orders: int
    revenue: int
    bot_share: float
    top_reasons: list[tuple[str, int]]


def _frame(wh: Warehouse, sql: str) -> pd.DataFrame:
    columns, rows = wh.query_with_columns(sql)
    return pd.DataFrame(rows, columns=columns)


def _between(column: str, first: date, last: date) -> str:
    return f"{column} BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"


def published_range(wh: Warehouse) -> tuple[date, date]:
    """First and last date of gold.session_facts in the warehouse."""
    _, rows = wh.query_with_columns("SELECT MIN(session_date), MAX(session_date) FROM gold.session_facts")
    if not rows or rows[0][0] is None:
        raise ValueError("gold.session_facts has no published rows yet: run the daily pipeline first")
    return _as_date(rows[0][0]), _as_date(rows[0][1])


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def daily_summary(wh: Warehouse, first: date, last: date, top: int = 3) -> list[DaySummary]:
    """Sessions, conversion, orders, revenue, bot share and top abandonment reasons per day."""
    sessions = _frame(
        wh,
        "SELECT session_date AS d, COUNT(*) AS sessions, SUM(CASE WHEN purchased THEN 1 ELSE 0 END) AS buying "
        f"FROM gold.session_facts WHERE {_between('session_date', first, last)} GROUP BY session_date",
    )
    traffic = _frame(
        wh,
        "SELECT date AS d, SUM(orders) AS orders, SUM(revenue) AS revenue, SUM(bot_events) AS bots, "
        "SUM(events + no_consent_events + bot_events) AS all_events "
        f"FROM gold.traffic_hourly WHERE {_between('date', first, last)} GROUP BY date",
    )
    reasons = _frame(
        wh,
        "SELECT date AS d, reason, SUM(abandoned_carts) AS carts FROM gold.abandonment_reasons_daily "
        f"WHERE {_between('date', first, last)} GROUP BY date, reason",
    )
    by_day: dict[date, dict[str, Any]] = {}
    for r in sessions.itertuples():
        by_day.setdefault(_as_date(r.d), {}).update(sessions=int(r.sessions), buying=int(r.buying or 0))
    for r in traffic.itertuples():
        by_day.setdefault(_as_date(r.d), {}).update(
            orders=int(r.orders), revenue=int(r.revenue), bots=int(r.bots), all_events=int(r.all_events)
        )
    out = []
    for day in sorted(by_day):
        v = by_day[day]
        day_reasons = reasons[reasons["d"].map(_as_date) == day]
        day_reasons = day_reasons.sort_values(["carts", "reason"], ascending=[False, True])
        out.append(
            DaySummary(
                date=day,
                sessions=v.get("sessions", 0),
                conversion=v.get("buying", 0) / v["sessions"] if v.get("sessions") else 0.0,
                orders=v.get("orders", 0),
                revenue=v.get("revenue", 0),
                bot_share=v.get("bots", 0) / v["all_events"] if v.get("all_events") else 0.0,
                top_reasons=[(str(r.reason), int(r.carts)) for r in day_reasons.head(top).itertuples() if r.carts],
            )
        )
    return out


def format_summary(days: list[DaySummary]) -> str:
    from jobs.common.text import format_table

    head = ["date", "sessions", "conversion", "orders", "revenue (IDR)", "bot share", "top abandonment reasons"]
    rows = [
        [
            f"{d.date} {d.date:%a}",
            f"{d.sessions:,}",
            f"{d.conversion:.2%}",
            f"{d.orders:,}",
            f"{d.revenue:,}",
            f"{d.bot_share:.1%}",
            ", ".join(f"{reason} {n:,}" for reason, n in d.top_reasons),
        ]
        for d in days
    ]
    return format_table(head, rows)


def report_figures(wh: Warehouse, first: date, last: date, top_queries: int) -> dict[str, Any]:
    import plotly.express as px
    import plotly.graph_objects as go

    hourly = _frame(
        wh,
        "SELECT hour_local, local_date, local_hour, sessions, events, orders, bot_events, bot_share "
        f"FROM gold.traffic_hourly WHERE {_between('date', first, last)} ORDER BY hour_utc",
    )
    hourly["hour_local"] = pd.to_datetime(hourly["hour_local"])
    traffic = go.Figure()
    lines = (("events", "events (consenting humans)"), ("sessions", "sessions started"), ("orders", "orders"))
    for column, name in lines:
        traffic.add_trace(go.Scatter(x=hourly["hour_local"], y=hourly[column], mode="lines", name=name))
    traffic.update_layout(yaxis_type="log", yaxis_title="per hour (log scale)", hovermode="x unified")
    for day in sorted(set(hourly["local_date"].map(_as_date))):
        if (day.month, day.day) in ((11, 11), (12, 12)):
            traffic.add_vrect(
                x0=pd.Timestamp(day), x1=pd.Timestamp(day) + pd.Timedelta(days=1), fillcolor="orange", opacity=0.15,
                line_width=0, annotation_text=f"{day.day}.{day.month} sale", annotation_position="top left",
            )  # fmt: skip

    funnel = _frame(
        wh,
        "SELECT date, step_index, step, SUM(sessions) AS sessions FROM gold.funnel_daily "
        f"WHERE {_between('date', first, last)} GROUP BY date, step_index, step ORDER BY date, step_index",
    )
    funnel["day"] = funnel["date"].map(lambda d: f"{_as_date(d)} {_as_date(d):%a}")
    # Conversion, not counts: the share of the day's sessions at the first step that reached each step.
    funnel["sessions"] = pd.to_numeric(funnel["sessions"]).astype(float)
    first_step = funnel[funnel["step_index"] == 0].set_index("day")["sessions"]
    funnel["conversion"] = funnel["sessions"] / funnel["day"].map(first_step).where(lambda v: v > 0)
    funnel_fig = px.line(
        funnel, x="step", y="conversion", color="day", markers=True, hover_data=["sessions"],
        labels={"step": "funnel step", "conversion": "share of the first step's sessions reaching the step"},
    )  # fmt: skip
    funnel_fig.update_yaxes(tickformat=".1%")

    reasons = _frame(
        wh,
        "SELECT date, reason, SUM(abandoned_carts) AS carts, SUM(value_lost) AS value_lost "
        f"FROM gold.abandonment_reasons_daily WHERE {_between('date', first, last)} "
        "GROUP BY date, reason ORDER BY date",
    )
    reasons["date"] = reasons["date"].map(_as_date)
    abandonment = px.bar(
        reasons, x="date", y="carts", color="reason", hover_data=["value_lost"],
        labels={"carts": "abandoned carts", "date": "cart date"},
    )  # fmt: skip

    risk_fig = cart_risk_figure(wh, first, last)

    # Queries that returned nothing, ranked by how many searches came back empty over the range.
    zero = _frame(
        wh,
        "SELECT query_normalised AS query, SUM(searches * zero_result_rate) AS zero_result_searches, "
        "SUM(searches) AS searches FROM gold.search_quality_daily "
        f"WHERE {_between('date', first, last)} GROUP BY query_normalised "
        f"HAVING SUM(searches * zero_result_rate) > 0 ORDER BY 2 DESC, 1 LIMIT {int(top_queries)}",
    )
    # An empty result comes back as object columns: make them numbers before rounding.
    zero["zero_result_searches"] = pd.to_numeric(zero["zero_result_searches"]).astype(float).round().astype(int)
    zero_fig = px.bar(
        zero.iloc[::-1], x="zero_result_searches", y="query", orientation="h", hover_data=["searches"],
        labels={"zero_result_searches": "searches with no results", "query": "normalised query"},
    )  # fmt: skip

    bots = px.area(
        hourly, x="hour_local", y="bot_share", labels={"bot_share": "bot share of events", "hour_local": "local hour"}
    )
    bots.update_yaxes(tickformat=".0%")

    heat = hourly.groupby(["local_date", "local_hour"], as_index=False)["orders"].sum()
    heat["day"] = heat["local_date"].map(lambda d: f"{_as_date(d)} {_as_date(d):%a}")
    grid = heat.pivot(index="day", columns="local_hour", values="orders").reindex(columns=range(24)).fillna(0)
    heatmap = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), colorscale="Viridis", colorbar_title="orders"
        )
    )
    heatmap.update_layout(xaxis_title="local hour", yaxis_title="local date", yaxis_autorange="reversed")

    return {
        "traffic": traffic,
        "funnel": funnel_fig,
        "abandonment": abandonment,
        "cart_risk": risk_fig,
        "zero_results": zero_fig,
        "bots": bots,
        "purchase_heatmap": heatmap,
    }


def has_data(fig: Any) -> bool:
    """Whether any trace of a plotly figure holds a data point (x, y, or a heatmap's z)."""
    for trace in fig.data:
        axes = ("z",) if trace.type == "heatmap" else ("x", "y")
        if any(getattr(trace, axis, None) is not None and len(getattr(trace, axis)) > 0 for axis in axes):
            return True
    return False


def _has_table(wh: Warehouse, schema: str, name: str) -> bool:
    _, rows = wh.query_with_columns(
        f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{name}'"
    )
    return bool(rows and rows[0][0])


def cart_risk_figure(wh: Warehouse, first: date, last: date) -> Any:
    """Value at risk of the carts open at the newest scoring in the period, by each cart's top reason
    and the decision point it reached; an empty chart that says why when nothing was scored."""
    import plotly.express as px

    risk = pd.DataFrame(columns=["reason", "action", "decision_point", "carts", "value_at_risk"])
    if _has_table(wh, "gold", "cart_risk"):
        risk = _frame(
            wh,
            "SELECT COALESCE(reason_1, 'no reason above the reference') AS reason, "
            "COALESCE(MIN(action_1), '') AS action, decision_point, COUNT(*) AS carts, "
            "SUM(value_at_risk) AS value_at_risk FROM gold.cart_risk WHERE scored_date = "
            f"(SELECT MAX(scored_date) FROM gold.cart_risk WHERE {_between('scored_date', first, last)}) "
            "GROUP BY 1, decision_point ORDER BY 1, decision_point",
        )
    risk["value_at_risk"] = pd.to_numeric(risk["value_at_risk"]).astype(float)
    risk["carts"] = pd.to_numeric(risk["carts"]).astype(int)
    order = risk.groupby("reason")["value_at_risk"].sum().sort_values().index.tolist()
    fig = px.bar(
        risk, x="value_at_risk", y="reason", color="decision_point", orientation="h",
        hover_data=["carts", "action"], category_orders={"reason": order[::-1]},
        labels={"value_at_risk": "value at risk (risk × cart value, IDR)", "reason": "top reason",
                "decision_point": "decision point"},
    )  # fmt: skip
    if risk.empty:
        fig.add_annotation(
            text="No open carts scored in this period (gold.cart_risk needs a trained abandonment model: "
            "detak train abandonment).",
            showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
        )  # fmt: skip
    return fig


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>detak behaviour report {first} – {last}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }} section {{ margin: 2rem 0; }}
</style>
<script>{plotly_js}</script></head>
<body>
<h1>Customer behaviour, {first} – {last}</h1>
<p>Read from the {target} warehouse: only table versions that passed the quality gate are published there.
Validation results: <a id="data-docs" href="{data_docs}">Great Expectations Data Docs</a>.</p>
<section><h2>Per day</h2>{summary}</section>
{charts}
</body></html>
"""


def _summary_html(days: list[DaySummary]) -> str:
    columns = ("date", "sessions", "conversion", "orders", "revenue (IDR)", "bot share", "top abandonment reasons")
    head = "".join(f"<th>{h}</th>" for h in columns)
    rows = "".join(
        f"<tr><td>{d.date} {d.date:%a}</td><td class=n>{d.sessions:,}</td><td class=n>{d.conversion:.2%}</td>"
        f"<td class=n>{d.orders:,}</td><td class=n>{d.revenue:,}</td><td class=n>{d.bot_share:.1%}</td>"
        f"<td>{html.escape(', '.join(f'{r} {n:,}' for r, n in d.top_reasons))}</td></tr>"
        for d in days
    )
    return f'<table id="summary"><tr>{head}</tr>{rows}</table>'


def build_report(
    settings: Settings,
    out: Path | None = None,
    first: date | None = None,
    last: date | None = None,
    *,
    target: str | None = None,
    top_queries: int = 15,
) -> tuple[Path, list[DaySummary]]:
    """Write the HTML report for ``first``..``last`` (default: every published day); return it and the summary."""
    from plotly.offline import get_plotlyjs

    wh = warehouse(settings, target)
    if first is None or last is None:
        lo, hi = published_range(wh)
        first, last = first or lo, last or hi
    days = daily_summary(wh, first, last)
    figures = report_figures(wh, first, last, top_queries)
    charts = []
    for chart_id, title in CHARTS:
        fig = figures[chart_id]
        if not has_data(fig) and not fig.layout.annotations:
            fig.add_annotation(
                text=f"No rows in {first} .. {last}.", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
            )
        fig.update_layout(margin={"t": 30, "b": 40}, height=420, legend_title_text="")
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id, config={"displaylogo": False})
        charts.append(f'<section class="chart"><h2>{html.escape(title)}</h2>{body}</section>')
    out = out or settings.path("reports") / "behaviour.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Links relative to the page, so no machine path appears in it and the folder can be moved whole.
    docs = Path(os.path.relpath(Path(settings["quality"]["data_docs_dir"]).resolve(), out.parent.resolve()))
    page = PAGE.format(
        first=first, last=last, target=wh.kind, data_docs=(docs / 'index.html').as_posix(), summary=_summary_html(days),
        charts="\n".join(charts), plotly_js=get_plotlyjs(),
    )  # fmt: skip
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out, days


#: Chromium flags for a headless run on a machine without network: no sandbox (root in CI) and no
#: background connections, which a closed network refuses by the dozen.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def render_in_chromium(page_file: Path, screenshot: Path, browser: str = "chromium") -> dict[str, Any]:
    """Open a report in headless Chromium: console errors, whether each chart drew, the summary rows.

    Drives the system's Chromium (``browser``) through Playwright (the ``dev`` extra); saves a
    full-page PNG to ``screenshot``. Used by the tests and ``make bench``.
    """
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser, args=list(CHROMIUM_ARGS))
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.resolve().as_uri(), wait_until="load")
        charts = {}
        for chart_id, _ in CHARTS:
            # plotly draws a chart as SVG; its data are trace groups (lines, bars) or a heatmap image;
            # a chart with no data in the period draws the annotation that says why instead.
            page.wait_for_selector(f"#{chart_id} .main-svg", timeout=30_000)
            drawn = page.locator(
                f"#{chart_id} .main-svg g.trace, #{chart_id} .main-svg g.hm image, #{chart_id} .main-svg g.annotation"
            ).count()
            charts[chart_id] = drawn > 0
        summary = page.eval_on_selector_all(
            "#summary tr:not(:first-child)", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))"
        )
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        chromium.close()
    return {"errors": errors, "charts": charts, "summary": summary}
