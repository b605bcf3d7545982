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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.publish.warehouse import Warehouse, warehouse

#: The charts of the report, in page order: (element id, title).
CHARTS = (
    ("traffic", "Hourly traffic"),
    (
        "forecast",
        "Surge forecast against actual events per hour (the newest forecast made before each day, 80 % interval)",
    ),
    ("funnel", "Funnel: share of sessions reaching each step, in order and in any order"),
    ("abandonment", "Cart abandonment: value lost by reason, and the abandonment rate"),
    ("cart_risk", "Open carts: value at risk by top reason (newest scoring in the period)"),
    ("channel_device", "Conversion by channel and device"),
    ("paths", "Top paths to purchase (last page types before the order)"),
    ("search", "Search: click-through and refinement of the most searched queries"),
    ("zero_results", "Top zero-result searches"),
    ("bots", "Bot share of all events, by hour"),
    ("threats", "Threat actors: devices judged per day by kind, and attacking networks (the threat feed's table)"),
    ("discounts", "Discount integrity on sale days: share of discounts flagged as misleading, by category"),
    (
        "campaigns",
        "Campaign leaderboard: conversion lift against non-campaign shoppers of the same hours, 95% interval",
    ),
    ("purchase_heatmap", "Orders by hour and day (time of purchase)"),
    ("segments", "Customer segments: customers in each segment, per as-of date"),
    ("segment_migration", "Segment migration: where the customers of the previous as-of date went"),
    ("sentiment", "Review sentiment by top-level category: reviews and the shares predicted positive and negative"),
)

#: Charts read from tables kept per UTC day (no timestamp to move to the shop's day): their period
#: is the same dates, which the chart says under its title. Chart id → (table, the day is that of, rows).
UTC_DAY_CHARTS = {
    "funnel": ("gold.funnel_daily", "the session start", "sessions"),
    "paths": ("gold.navigation_paths", "the session start", "sessions"),
    "search": ("gold.search_quality_daily", "the session start", "sessions"),
    "sentiment": ("gold.product_sentiment_daily", "the review", "reviews"),
    "threats": ("gold.threat_actors", "the events", "actors"),
}

#: Charts of customers as of a date of gold.customer_segments (00:00 UTC, from the data before it),
#: which a short period can fall between: chart id → which as-of dates it shows.
AS_OF_CHARTS = {
    "segments": "the latest as-of dates in {first} – {last}, or the latest before {first} when none falls inside",
    "segment_migration": "the moves into the latest as-of date on or before {last}, from the as-of date before it",
}

#: The key figures in the tiles: (id, label, kind), kind "count", "idr" or "rate" (a rate's change
#: is shown in percentage points, a count's in per cent).
KPIS = (
    ("sessions", "Sessions", "count"),
    ("conversion", "Conversion", "rate"),
    ("orders", "Orders", "count"),
    ("revenue", "Revenue (IDR)", "idr"),
    ("abandonment_rate", "Cart abandonment", "rate"),
    ("value_lost", "Value in abandoned carts (IDR)", "idr"),
    ("bot_share", "Bot share of events", "rate"),
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
    carts: int = 0
    abandoned: int = 0
    value_lost: int = 0
    buying: int = 0
    bots: int = 0
    all_events: int = 0

    @property
    def abandonment_rate(self) -> float:
        """Abandoned carts / carts whose outcome is known (open carts are not yet either way)."""
        return self.abandoned / self.carts if self.carts else 0.0


def _frame(wh: Warehouse, sql: str) -> pd.DataFrame:
    columns, rows = wh.query_with_columns(sql)
    return pd.DataFrame(rows, columns=columns)


def _between(column: str, first: date, last: date) -> str:
    return f"{column} BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"


def _numbers(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``columns`` as floats: an empty result comes back as object columns, and decimals as Decimal."""
    for column in columns:
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return frame


@dataclass(frozen=True)
class Clock:
    """The page's one clock: the shop's time zone (gold.browsing.shop_timezone)."""

    timezone: str

    def day(self, column: str) -> str:
        """SQL for the shop's local date of a UTC timestamp column (DuckDB and PostgreSQL alike)."""
        return f"CAST(({column} AT TIME ZONE '{self.timezone}') AS DATE)"

    def local(self, column: str) -> str:
        return f"({column} AT TIME ZONE '{self.timezone}')"

    def within(self, column: str, utc_day: str, first: date, last: date) -> str:
        """``column``'s shop day in ``first``..``last``; ``utc_day`` (the partition) a day wider
        either side, so the warehouse reads only the partitions that can hold such rows."""
        wide = _between(utc_day, first - timedelta(days=1), last + timedelta(days=1))
        return f"{wide} AND {_between(self.day(column), first, last)}"


def clock_of(settings: Settings) -> Clock:
    return Clock(str(settings["gold"]["browsing"]["shop_timezone"]))


def published_range(wh: Warehouse, clock: Clock) -> tuple[date, date]:
    """First and last shop day of the sessions in gold.session_facts in the warehouse."""
    _, rows = wh.query_with_columns(
        f"SELECT MIN({clock.day('session_start')}), MAX({clock.day('session_start')}) FROM gold.session_facts"
    )
    if not rows or rows[0][0] is None:
        raise ValueError("gold.session_facts has no published rows yet: run the daily pipeline first")
    return _as_date(rows[0][0]), _as_date(rows[0][1])


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def carts_by_day_and_reason(wh: Warehouse, first: date, last: date, clock: Clock) -> pd.DataFrame:
    """Per shop day of the cart's creation and primary reason: carts with a known outcome (open
    carts are neither way yet), abandoned carts and the value left in them; numbers as floats."""
    return _numbers(
        _frame(
            wh,
            f"SELECT {clock.day('created')} AS d, COALESCE(primary_reason, 'unknown') AS reason, "
            "SUM(CASE WHEN outcome <> 'open' THEN 1 ELSE 0 END) AS carts, "
            "SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned, "
            "SUM(CASE WHEN outcome = 'abandoned' THEN cart_value ELSE 0 END) AS value_lost "
            f"FROM gold.cart_abandonment WHERE {clock.within('created', 'cart_date', first, last)} "
            "GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        "carts",
        "abandoned",
        "value_lost",
    )


def daily_summary(wh: Warehouse, first: date, last: date, clock: Clock, top: int = 3) -> list[DaySummary]:
    """Per shop day: sessions, conversion, orders, revenue, bot share, carts and their abandonment,
    and the top abandonment reasons (by abandoned carts)."""
    sessions = _frame(
        wh,
        f"SELECT {clock.day('session_start')} AS d, COUNT(*) AS sessions, "
        "SUM(CASE WHEN purchased THEN 1 ELSE 0 END) AS buying FROM gold.session_facts "
        f"WHERE {clock.within('session_start', 'session_date', first, last)} GROUP BY 1",
    )
    traffic = _frame(
        wh,
        "SELECT local_date AS d, SUM(orders) AS orders, SUM(revenue) AS revenue, SUM(bot_events) AS bots, "
        "SUM(events + no_consent_events + bot_events) AS all_events FROM gold.traffic_hourly "
        f"WHERE {_between('date', first - timedelta(days=1), last + timedelta(days=1))} "
        f"AND {_between('local_date', first, last)} GROUP BY local_date",
    )
    carts = carts_by_day_and_reason(wh, first, last, clock)
    by_day: dict[date, dict[str, Any]] = {}
    for r in sessions.itertuples():
        by_day.setdefault(_as_date(r.d), {}).update(sessions=int(r.sessions), buying=int(r.buying or 0))
    for r in traffic.itertuples():
        by_day.setdefault(_as_date(r.d), {}).update(
            orders=int(r.orders), revenue=int(r.revenue), bots=int(r.bots), all_events=int(r.all_events)
        )
    reasons: dict[date, list[tuple[str, int]]] = {}
    for r in carts.itertuples():
        entry = by_day.setdefault(_as_date(r.d), {})
        for key in ("carts", "abandoned", "value_lost"):
            entry[key] = entry.get(key, 0) + int(getattr(r, key) or 0)
        if r.abandoned:
            reasons.setdefault(_as_date(r.d), []).append((str(r.reason), int(r.abandoned)))
    out = []
    for day in sorted(by_day):
        v = by_day[day]
        ranked = sorted(reasons.get(day, []), key=lambda rn: (-rn[1], rn[0]))
        out.append(
            DaySummary(
                date=day,
                sessions=v.get("sessions", 0),
                conversion=v.get("buying", 0) / v["sessions"] if v.get("sessions") else 0.0,
                orders=v.get("orders", 0),
                revenue=v.get("revenue", 0),
                bot_share=v.get("bots", 0) / v["all_events"] if v.get("all_events") else 0.0,
                top_reasons=ranked[:top],
                carts=v.get("carts", 0),
                abandoned=v.get("abandoned", 0),
                value_lost=v.get("value_lost", 0),
                buying=v.get("buying", 0),
                bots=v.get("bots", 0),
                all_events=v.get("all_events", 0),
            )
        )
    return out


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    kind: str
    value: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        """Per cent change of a count, percentage-point change of a rate; None without both weeks."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "rate":
            return self.value - self.previous
        return (self.value - self.previous) / self.previous if self.previous else None


def _week(days: list[DaySummary]) -> dict[str, float | None]:
    if not days:
        return {key: None for key, _, _ in KPIS}
    fields = ("sessions", "buying", "orders", "revenue", "carts", "abandoned", "value_lost", "bots", "all_events")
    total = {f: sum(getattr(d, f) for d in days) for f in fields}
    return {
        "sessions": total["sessions"],
        "conversion": total["buying"] / total["sessions"] if total["sessions"] else None,
        "orders": total["orders"],
        "revenue": total["revenue"],
        "abandonment_rate": total["abandoned"] / total["carts"] if total["carts"] else None,
        "value_lost": total["value_lost"],
        "bot_share": total["bots"] / total["all_events"] if total["all_events"] else None,
    }


def week_over_week(wh: Warehouse, last: date, clock: Clock) -> list[Kpi]:
    """The key figures of the 7 shop days to ``last`` against the 7 days before them."""
    days = daily_summary(wh, last - timedelta(days=13), last, clock)
    cut = last - timedelta(days=6)
    now, before = _week([d for d in days if d.date >= cut]), _week([d for d in days if d.date < cut])
    return [Kpi(key, label, kind, now[key], before[key]) for key, label, kind in KPIS]


def format_summary(days: list[DaySummary]) -> str:
    from jobs.common.text import format_table

    head = ["date", "sessions", "conversion", "orders", "revenue (IDR)", "abandoned carts", "bot share",
            "top abandonment reasons"]  # fmt: skip
    rows = [
        [
            f"{d.date} {d.date:%a}",
            f"{d.sessions:,}",
            f"{d.conversion:.2%}",
            f"{d.orders:,}",
            f"{d.revenue:,}",
            f"{d.abandonment_rate:.1%} of {d.carts:,}",
            f"{d.bot_share:.1%}",
            ", ".join(f"{reason} {n:,}" for reason, n in d.top_reasons),
        ]
        for d in days
    ]
    return format_table(head, rows)


def report_figures(wh: Warehouse, first: date, last: date, top_queries: int, clock: Clock) -> dict[str, Any]:
    import plotly.express as px
    import plotly.graph_objects as go

    hourly = _frame(
        wh,
        "SELECT hour_local, local_date, local_hour, sessions, events, orders, bot_events, bot_share "
        f"FROM gold.traffic_hourly WHERE {_between('date', first - timedelta(days=1), last + timedelta(days=1))} "
        f"AND {_between('local_date', first, last)} ORDER BY hour_utc",
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

    funnel_fig = funnel_figure(wh, first, last)
    abandonment = abandonment_figure(wh, first, last, clock)
    risk_fig = cart_risk_figure(wh, first, last)

    mix = _numbers(
        _frame(
            wh,
            "SELECT channel, device_type, COUNT(*) AS sessions, SUM(CASE WHEN purchased THEN 1 ELSE 0 END) AS buying "
            f"FROM gold.session_facts WHERE {clock.within('session_start', 'session_date', first, last)} "
            "GROUP BY channel, device_type ORDER BY channel, device_type",
        ),
        "sessions",
        "buying",
    )
    mix["conversion"] = mix["buying"] / mix["sessions"]
    conv = mix.pivot(index="channel", columns="device_type", values="conversion")
    count = mix.pivot(index="channel", columns="device_type", values="sessions").reindex_like(conv)
    text = [
        [f"{c:.1%}<br>{int(n):,} sessions" if n == n else "" for c, n in zip(cr, nr, strict=True)]
        for cr, nr in zip(conv.to_numpy(), count.to_numpy(), strict=True)
    ]
    channel_device = go.Figure(
        go.Heatmap(
            z=conv.to_numpy(), x=list(conv.columns), y=list(conv.index), text=text, texttemplate="%{text}",
            colorscale="Blues", colorbar={"title": "conversion", "tickformat": ".0%"}, hoverongaps=False,
        )
    )  # fmt: skip
    channel_device.update_layout(xaxis_title="device", yaxis_title="channel")

    paths = paths_figure(wh, first, last)
    search_fig = search_figure(wh, first, last, top_queries)

    # Queries that returned nothing, ranked by how many searches came back empty over the range.
    zero = _frame(
        wh,
        "SELECT query_normalised AS query, SUM(searches * zero_result_rate) AS zero_result_searches, "
        "SUM(searches) AS searches FROM gold.search_quality_daily "
        f"WHERE {_between('date', first, last)} GROUP BY query_normalised "
        f"HAVING SUM(searches * zero_result_rate) > 0 ORDER BY 2 DESC, 1 LIMIT {int(top_queries)}",
    )
    zero["zero_result_searches"] = _numbers(zero, "zero_result_searches")["zero_result_searches"].round().astype(int)
    zero_fig = px.bar(
        zero.iloc[::-1], x="zero_result_searches", y="query", orientation="h", hover_data=["searches"],
        labels={"zero_result_searches": "searches with no results", "query": "normalised query"},
    )  # fmt: skip

    bots = px.area(
        hourly, x="hour_local", y="bot_share", labels={"bot_share": "bot share of events", "hour_local": "hour"}
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
    heatmap.update_layout(xaxis_title="hour", yaxis_title="day", yaxis_autorange="reversed")

    return {
        "traffic": traffic,
        "funnel": funnel_fig,
        "abandonment": abandonment,
        "cart_risk": risk_fig,
        "channel_device": channel_device,
        "paths": paths,
        "search": search_fig,
        "zero_results": zero_fig,
        "bots": bots,
        "purchase_heatmap": heatmap,
        "segments": segments_figure(wh, first, last),
        "segment_migration": migration_figure(wh, first, last),
        "sentiment": sentiment_figure(wh, first, last),
        "threats": threats_figure(wh, first, last),
        "discounts": discounts_figure(wh, first, last),
        "campaigns": campaigns_figure(wh, first, last),
        "forecast": forecast_figure(wh, first, last),
    }


def funnel_figure(wh: Warehouse, first: date, last: date) -> Any:
    """Each step's share of the first step's sessions over the period: reached in order (the closed
    funnel) and in any order (gold.funnel_daily.sessions_any_order), side by side."""
    import plotly.graph_objects as go

    funnel = _numbers(
        _frame(
            wh,
            "SELECT step_index, step, SUM(sessions) AS sessions, SUM(sessions_any_order) AS any_order "
            f"FROM gold.funnel_daily WHERE {_between('date', first, last)} "
            "GROUP BY step_index, step ORDER BY step_index",
        ),
        "sessions",
        "any_order",
    )
    fig = go.Figure()
    entered = funnel.loc[funnel["step_index"] == 0, "sessions"]
    base = float(entered.iloc[0]) if len(entered) and entered.iloc[0] > 0 else float("nan")
    for column, name in (("sessions", "in order"), ("any_order", "in any order")):
        fig.add_trace(
            go.Bar(
                x=funnel["step"], y=funnel[column] / base, name=name, customdata=funnel[column],
                hovertemplate="%{x}: %{y:.1%} (%{customdata:,.0f} sessions)<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(barmode="group", xaxis_title="funnel step", yaxis_title="share of the sessions at the first step")
    fig.update_yaxes(tickformat=".1%")
    return fig


def abandonment_figure(wh: Warehouse, first: date, last: date, clock: Clock) -> Any:
    """Value lost in abandoned carts per shop day, stacked by primary reason, and the day's
    abandonment rate (abandoned / carts with a known outcome) on the right axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    carts = carts_by_day_and_reason(wh, first, last, clock)
    carts["d"] = carts["d"].map(_as_date)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    lost = carts[carts["abandoned"] > 0]
    order = lost.groupby("reason")["value_lost"].sum().sort_values(ascending=False).index
    for reason in order:
        part = lost[lost["reason"] == reason]
        fig.add_trace(
            go.Bar(
                x=part["d"], y=part["value_lost"], name=str(reason), customdata=part["abandoned"],
                hovertemplate="%{x}: IDR %{y:,.0f} in %{customdata:,.0f} carts<extra>" + str(reason) + "</extra>",
            ),
            secondary_y=False,
        )  # fmt: skip
    daily = carts.groupby("d", as_index=False)[["carts", "abandoned"]].sum()
    daily = daily[daily["carts"] > 0]
    fig.add_trace(
        go.Scatter(
            x=daily["d"], y=daily["abandoned"] / daily["carts"], name="abandonment rate", mode="lines+markers",
            line={"color": "black"}, customdata=daily["carts"],
            hovertemplate="%{x}: %{y:.1%} of %{customdata:,.0f} carts<extra></extra>",
        ),
        secondary_y=True,
    )  # fmt: skip
    fig.update_layout(barmode="stack", xaxis_title="day the cart was created")
    fig.update_yaxes(title_text="value lost (IDR)", secondary_y=False)
    fig.update_yaxes(title_text="abandonment rate", tickformat=".0%", rangemode="tozero", secondary_y=True)
    return fig


def paths_figure(wh: Warehouse, first: date, last: date, top: int = 10) -> Any:
    """A Sankey of the most common paths to purchase: page types by position, then the order."""
    import plotly.graph_objects as go

    rows = _numbers(
        _frame(
            wh,
            "SELECT path, SUM(sessions) AS sessions FROM gold.navigation_paths "
            f"WHERE outcome = 'purchase' AND {_between('date', first, last)} GROUP BY path "
            f"ORDER BY 2 DESC, 1 LIMIT {int(top)}",
        ),
        "sessions",
    )
    labels: list[str] = []
    index: dict[tuple[int, str], int] = {}
    links: dict[tuple[int, int], float] = {}

    def node(position: int, name: str) -> int:
        if (position, name) not in index:
            index[(position, name)] = len(labels)
            labels.append(name)
        return index[(position, name)]

    for r in rows.itertuples():
        steps = [*str(r.path).split(" > "), "order"]
        for i in range(len(steps) - 1):
            # The order sits at one last position, so every path ends in the same node.
            a, b = node(i, steps[i]), node(99 if steps[i + 1] == "order" else i + 1, steps[i + 1])
            links[(a, b)] = links.get((a, b), 0.0) + float(r.sessions)
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12, "thickness": 14},
            link={"source": [a for a, _ in links], "target": [b for _, b in links], "value": list(links.values())},
        )
    )
    return fig


def search_figure(wh: Warehouse, first: date, last: date, top: int) -> Any:
    """Click-through and refinement rates of the most searched queries over the period."""
    import plotly.graph_objects as go

    q = _numbers(
        _frame(
            wh,
            "SELECT query_normalised AS query, SUM(searches) AS searches, "
            "SUM(searches * click_through_rate) AS clicked, SUM(searches * refinement_rate) AS refined "
            f"FROM gold.search_quality_daily WHERE {_between('date', first, last)} AND query_normalised <> '(rare)' "
            f"GROUP BY query_normalised ORDER BY 2 DESC, 1 LIMIT {int(top)}",
        ),
        "searches",
        "clicked",
        "refined",
    ).iloc[::-1]
    fig = go.Figure()
    for column, name in (("clicked", "click-through rate"), ("refined", "refinement rate")):
        fig.add_trace(
            go.Bar(
                y=q["query"], x=q[column] / q["searches"], name=name, orientation="h", customdata=q["searches"],
                hovertemplate="%{y}: %{x:.1%} of %{customdata:,.0f} searches<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(barmode="group", xaxis_title="share of the query's searches", yaxis_title="normalised query")
    fig.update_xaxes(tickformat=".0%")
    return fig


def has_data(fig: Any) -> bool:
    """Whether any trace of a plotly figure holds a data point (x, y, a heatmap's z, a Sankey's nodes)."""
    for trace in fig.data:
        if trace.type == "sankey":
            if len(trace.node.label or ()) > 0:
                return True
            continue
        axes = ("z",) if trace.type == "heatmap" else ("x", "y")
        if any(getattr(trace, axis, None) is not None and len(getattr(trace, axis)) > 0 for axis in axes):
            return True
    return False


def _has_table(wh: Warehouse, schema: str, name: str) -> bool:
    _, rows = wh.query_with_columns(
        f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{name}'"
    )
    return bool(rows and rows[0][0])


def table_status(wh: Warehouse, clock: Clock) -> pd.DataFrame:
    """quality.table_status (empty when nothing has recorded one): the gate's verdict on each
    table's last publication and what readers see, with times in the shop's clock."""
    columns = ["table_name", "status", "detail", "published_version", "published_at", "latest_date", "row_count"]
    if not _has_table(wh, "quality", "table_status"):
        return pd.DataFrame(columns=columns)
    return _frame(
        wh,
        "SELECT table_name, status, detail, published_version, "
        f"{clock.local('published_at')} AS published_at, latest_date, row_count "
        "FROM quality.table_status ORDER BY table_name",
    )


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
        _say(
            fig,
            "No open carts scored in this period (gold.cart_risk needs a trained abandonment model: "
            "detak train abandonment).",
        )
    return fig


def _say(fig: Any, text: str) -> None:
    """Write ``text`` across the middle of a chart: why it has nothing to draw."""
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)


def _not_in_warehouse(fig: Any, name: str, job: str) -> None:
    _say(fig, f"No {name} in this warehouse yet (built by detak job {job}, then published).")


def as_of_dates(wh: Warehouse, name: str, first: date, last: date, latest: int) -> list[date]:
    """The as-of dates of ``name`` to draw, oldest first: the ``latest`` newest in ``first``..``last``,
    or the newest before ``first`` when none falls inside (as-of dates are a week apart, which a
    short period can fall between)."""
    _, rows = wh.query_with_columns(
        f"SELECT DISTINCT as_of_date FROM {name} WHERE as_of_date <= DATE '{last.isoformat()}' "
        f"ORDER BY 1 DESC LIMIT {int(latest)}"
    )
    dates = [_as_date(r[0]) for r in rows]
    return sorted([d for d in dates if d >= first] or dates[:1])


def _segment_colours(values: Any) -> dict[str, str]:
    """The segments among ``values`` in the contract's order (gold.segments.rules' order), each with
    the same colour in every chart; any other value ('(none)': no row on that side) last, in grey."""
    import plotly.express as px

    (column,) = (c for c in table("gold.customer_segments").columns if c.name == "segment")
    named = list(column.accepted_values or [])
    palette = px.colors.qualitative.Safe
    present = {str(v) for v in values}
    colours = {s: palette[i % len(palette)] for i, s in enumerate(named) if s in present}
    colours.update({v: "#9e9e9e" for v in sorted(present - set(named))})
    return colours


def segments_figure(wh: Warehouse, first: date, last: date, latest: int = 12) -> Any:
    """Customers per named segment on the as-of dates of :func:`as_of_dates` (at most ``latest``),
    stacked in the rules' order; the hover gives each segment's share of the date's customers."""
    import plotly.graph_objects as go

    sizes = pd.DataFrame(columns=["as_of_date", "segment", "users"])
    present = _has_table(wh, "gold", "customer_segments")
    dates = as_of_dates(wh, "gold.customer_segments", first, last, latest) if present else []
    if dates:
        sizes = _frame(
            wh,
            "SELECT as_of_date, segment, COUNT(*) AS users FROM gold.customer_segments "
            f"WHERE {_between('as_of_date', dates[0], dates[-1])} GROUP BY 1, 2 ORDER BY 1, 2",
        )
    sizes = _numbers(sizes, "users")
    sizes["as_of_date"] = sizes["as_of_date"].map(lambda d: _as_date(d).isoformat())
    sizes["share"] = sizes["users"] / sizes.groupby("as_of_date")["users"].transform("sum")
    fig = go.Figure()
    for segment, colour in _segment_colours(sizes["segment"]).items():
        part = sizes[sizes["segment"] == segment]
        fig.add_trace(
            go.Bar(
                x=part["as_of_date"], y=part["users"], name=segment, marker_color=colour, customdata=part["share"],
                hovertemplate="%{x}: %{y:,.0f} customers (%{customdata:.1%})<extra>" + segment + "</extra>",
            )
        )  # fmt: skip
    # Categories, not a date axis: the bars are a week apart and one date alone would span the axis.
    fig.update_layout(barmode="stack", xaxis_title="as-of date", yaxis_title="customers")
    fig.update_xaxes(type="category")
    if not present:
        _not_in_warehouse(fig, "gold.customer_segments", "gold_customers")
    return fig


def migration_figure(wh: Warehouse, first: date, last: date) -> Any:
    """A Sankey of the customers' moves between named segments into the latest as-of date on or
    before ``last`` (gold.segment_migration_weekly, kind segment): the previous as-of date's segment
    on the left, the latest's on the right, '(none)' for those with no row on one side."""
    import plotly.graph_objects as go

    moves = pd.DataFrame(columns=["previous_as_of_date", "as_of_date", "from_value", "to_value", "users"])
    present = _has_table(wh, "gold", "segment_migration_weekly")
    dates = as_of_dates(wh, "gold.segment_migration_weekly", first, last, 1) if present else []
    if dates:
        moves = _frame(
            wh,
            "SELECT previous_as_of_date, as_of_date, from_value, to_value, users FROM gold.segment_migration_weekly "
            f"WHERE kind = 'segment' AND as_of_date = DATE '{dates[0].isoformat()}' ORDER BY 3, 4",
        )
    moves = _numbers(moves, "users")
    sources, targets = _segment_colours(moves["from_value"]), _segment_colours(moves["to_value"])
    # One node per segment and side: the previous date's first, then the latest's.
    left = {v: i for i, v in enumerate(sources)}
    right = {v: len(left) + i for i, v in enumerate(targets)}
    fig = go.Figure(
        go.Sankey(
            node={
                "label": [*left, *right],
                "color": [*sources.values(), *targets.values()],
                "pad": 12,
                "thickness": 14,
            },
            link={
                "source": [left[v] for v in moves["from_value"]],
                "target": [right[v] for v in moves["to_value"]],
                "value": list(moves["users"]),
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,.0f} customers<extra></extra>",
            },
        )
    )
    if not moves.empty:
        before, after = _as_date(moves["previous_as_of_date"].iloc[0]), _as_date(moves["as_of_date"].iloc[0])
        for x, anchor, text in ((0, "left", f"as of {before}"), (1, "right", f"as of {after}")):
            fig.add_annotation(
                text=text, showarrow=False, xref="paper", yref="paper", x=x, y=1, xanchor=anchor, yanchor="bottom"
            )
    if not present:
        _not_in_warehouse(fig, "gold.segment_migration_weekly", "gold_customers")
    return fig


def sentiment_figure(wh: Warehouse, first: date, last: date) -> Any:
    """Reviews per top-level category over the period (bars, largest first) and the shares of them
    the sentiment model predicts positive and negative (markers, right axis)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    found = pd.DataFrame(columns=["category", "reviews", "positive", "negative", "stars"])
    present = _has_table(wh, "gold", "product_sentiment_daily")
    if present:
        # gold.product_sentiment_daily has no category: gold.product_engagement_daily is the one
        # published table that carries a product's top_category (on the days it was viewed, carted
        # or bought), so any day of it maps the product. A product never seen there, or a warehouse
        # without it, counts under '(unknown)'.
        category, join = "'(unknown)'", ""
        if _has_table(wh, "gold", "product_engagement_daily"):
            category = "COALESCE(c.top_category, '(unknown)')"
            join = (
                "LEFT JOIN (SELECT product_id, MAX(top_category) AS top_category FROM gold.product_engagement_daily "
                "GROUP BY product_id) c ON c.product_id = s.product_id "
            )
        found = _frame(
            wh,
            f"SELECT {category} AS category, SUM(s.reviews) AS reviews, SUM(s.positive_reviews) AS positive, "
            "SUM(s.negative_reviews) AS negative, SUM(s.reviews * s.mean_rating) AS stars "
            f"FROM gold.product_sentiment_daily s {join}WHERE {_between('s.date', first, last)} "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
        )
    found = _numbers(found, "reviews", "positive", "negative", "stars")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=found["category"], y=found["reviews"], name="reviews", marker_color="#c8c8c8",
            customdata=found["stars"] / found["reviews"],
            hovertemplate="%{x}: %{y:,.0f} reviews, mean rating %{customdata:.2f}<extra></extra>",
        ),
        secondary_y=False,
    )  # fmt: skip
    for column, name, colour in (("positive", "positive share", "#1a7f37"), ("negative", "negative share", "#b42318")):
        fig.add_trace(
            go.Scatter(
                x=found["category"], y=found[column] / found["reviews"], name=name, mode="markers",
                marker={"color": colour, "size": 10}, customdata=found[column],
                hovertemplate="%{x}: %{y:.1%} (%{customdata:,.0f} reviews)<extra>" + name + "</extra>",
            ),
            secondary_y=True,
        )  # fmt: skip
    fig.update_layout(xaxis_title="top-level category")
    fig.update_yaxes(title_text="reviews", secondary_y=False)
    # A little beyond 0..1, so that markers at 0% and 100% are whole; no second grid over the first.
    fig.update_yaxes(
        title_text="share of the reviews", tickformat=".0%", range=[-0.04, 1.04], showgrid=False, secondary_y=True
    )
    if not present:
        _not_in_warehouse(fig, "gold.product_sentiment_daily", "gold_sentiment")
    return fig


def threats_figure(wh: Warehouse, first: date, last: date, min_confidence: float = 0.5) -> Any:
    """Devices judged each UTC day, stacked by kind (hover: their bot events), and the network
    prefixes with at least ``min_confidence`` (markers): what the threat feed would hand a WAF."""
    import plotly.graph_objects as go

    found = pd.DataFrame(columns=["seen_date", "kind", "devices", "bot_events", "networks"])
    present = _has_table(wh, "gold", "threat_actors")
    if present:
        found = _frame(
            wh,
            "SELECT seen_date, kind, "
            "COUNT(*) FILTER (WHERE actor_type = 'anonymous_id') AS devices, "
            "COALESCE(SUM(bot_events) FILTER (WHERE actor_type = 'anonymous_id'), 0) AS bot_events, "
            f"COUNT(*) FILTER (WHERE actor_type = 'ip_prefix' AND confidence >= {float(min_confidence)}) AS networks "
            f"FROM gold.threat_actors WHERE {_between('seen_date', first, last)} GROUP BY 1, 2 ORDER BY 1, 2",
        )
    found = _numbers(found, "devices", "bot_events", "networks")
    found["seen_date"] = found["seen_date"].map(lambda d: _as_date(d).isoformat())
    fig = go.Figure()
    (column,) = (c for c in table("gold.threat_actors").columns if c.name == "kind")
    kinds = [k for k in column.accepted_values or () if k in set(found["kind"])]
    for kind in kinds:
        rows = found[(found["kind"] == kind) & (found["devices"] > 0)]
        if len(rows):
            fig.add_trace(
                go.Bar(
                    x=rows["seen_date"], y=rows["devices"], name=kind, customdata=rows["bot_events"],
                    hovertemplate="%{x}: %{y:,.0f} devices, %{customdata:,.0f} bot events<extra>" + kind + "</extra>",
                )
            )  # fmt: skip
    networks = found.groupby("seen_date", as_index=False)["networks"].sum()
    networks = networks[networks["networks"] > 0]
    if len(networks):
        fig.add_trace(
            go.Scatter(
                x=networks["seen_date"], y=networks["networks"], mode="markers", name="networks in the feed",
                marker={"color": "#000000", "symbol": "diamond", "size": 11},
            )
        )  # fmt: skip
    fig.update_layout(barmode="stack", xaxis_title="UTC day", yaxis_title="actors", xaxis_type="category")
    if not present:
        _not_in_warehouse(fig, "gold.threat_actors", "gold_threats")
    return fig


def forecast_figure(wh: Warehouse, first: date, last: date) -> Any:
    """Per local hour of the period, and of the days the newest forecast made by ``last`` covers
    after it: the events of the newest forecast made before the hour's day (line, with its 80 %
    interval as a band) and the actual events (gold.traffic_hourly)."""
    import plotly.graph_objects as go

    present = _has_table(wh, "gold", "traffic_forecast_hourly")
    fc = pd.DataFrame(columns=["local_date", "local_hour", "events", "events_low", "events_high", "over_capacity"])
    if present:
        fc = _frame(
            wh,
            "SELECT f.local_date, f.local_hour, f.events, f.events_low, f.events_high, f.over_capacity "
            "FROM gold.traffic_forecast_hourly AS f "
            f"WHERE f.local_date >= DATE '{first.isoformat()}' AND f.forecast_date <= DATE '{last.isoformat()}' "
            "AND f.forecast_date = (SELECT MAX(g.forecast_date) FROM gold.traffic_forecast_hourly AS g "
            f"WHERE g.local_date = f.local_date AND g.forecast_date <= DATE '{last.isoformat()}') "
            "ORDER BY 1, 2",
        )
    fc = _numbers(fc, "events", "events_low", "events_high")
    actual = _numbers(
        _frame(
            wh,
            "SELECT local_date, local_hour, SUM(events) AS events FROM gold.traffic_hourly "
            f"WHERE {_between('local_date', first, last)} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        "events",
    )

    def hours(frame: pd.DataFrame) -> list[str]:
        return [
            f"{_as_date(d).isoformat()} {int(h):02d}:00"
            for d, h in zip(frame["local_date"], frame["local_hour"], strict=True)
        ]

    fig = go.Figure()
    if len(fc):
        x = hours(fc)
        fig.add_trace(go.Scatter(x=x, y=fc["events_high"], mode="lines", line={"width": 0}, name="80 % interval",
                                 showlegend=False, hoverinfo="skip"))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=fc["events_low"], mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor="rgba(31, 119, 180, 0.2)", name="80 % interval"))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=fc["events"], mode="lines", name="forecast", line={"dash": "dash"}))
        over = fc[fc["over_capacity"].astype(bool)]
        if len(over):
            fig.add_trace(go.Scatter(x=hours(over), y=over["events"], mode="markers", name="over capacity",
                                     marker={"color": "#b42318", "symbol": "x", "size": 9}))  # fmt: skip
    if len(actual):
        fig.add_trace(go.Scatter(x=hours(actual), y=actual["events"], mode="lines", name="actual"))
    fig.update_layout(xaxis_title="local hour", yaxis_title="events per hour", hovermode="x unified")
    if not present:
        _not_in_warehouse(fig, "gold.traffic_forecast_hourly", "forecast")
    return fig


def discounts_figure(wh: Warehouse, first: date, last: date) -> Any:
    """Per top-level category, the share of the sale days' judged discounts (verdict misleading or
    genuine) that gold.discount_integrity flags as misleading; hover: flagged and judged products."""
    import plotly.graph_objects as go

    found = pd.DataFrame(columns=["category", "flagged", "judged"])
    present = _has_table(wh, "gold", "discount_integrity")
    if present:
        found = _frame(
            wh,
            "SELECT COALESCE(split_part(category, ' > ', 1), '(none)') AS category, "
            "COUNT(*) FILTER (WHERE verdict = 'misleading') AS flagged, COUNT(*) AS judged "
            "FROM gold.discount_integrity WHERE verdict IN ('misleading', 'genuine') "
            f"AND {_between('sale_date', first, last)} GROUP BY 1",
        )
    found = _numbers(found, "flagged", "judged")
    found["share"] = found["flagged"] / found["judged"].where(found["judged"] > 0)
    found = found.sort_values(["share", "category"], ascending=[True, False])
    fig = go.Figure()
    if len(found):
        fig.add_trace(
            go.Bar(
                x=found["share"], y=found["category"], orientation="h", name="flagged share",
                customdata=found[["flagged", "judged"]].to_numpy(),
                hovertemplate="%{y}: %{x:.0%} flagged (%{customdata[0]:,.0f} of %{customdata[1]:,.0f} discounts)"
                "<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(xaxis_title="share of discounts flagged", xaxis_tickformat=".0%", xaxis_range=[0, 1])
    if not present:
        _not_in_warehouse(fig, "gold.discount_integrity", "gold_discounts")
    return fig


def campaigns_figure(wh: Warehouse, first: date, last: date, top: int = 15) -> Any:
    """The ``top`` campaigns by sessions over the period, ranked by their conversion lift against
    non-campaign sessions of the same hours: one Mantel-Haenszel ratio over every hour of the period
    (jobs/gold/campaigns.py), with its interval as error bars; hover: sessions, orders, revenue."""
    import plotly.graph_objects as go

    from jobs.common.stats import mh_sums_to_lift

    cols = ["campaign", "sessions", "orders", "revenue", "r", "s", "p"]
    found = pd.DataFrame(columns=cols)
    present = _has_table(wh, "gold", "campaign_performance_hourly")
    if present:
        n = "(sessions + control_sessions)"
        found = _frame(
            wh,
            "SELECT campaign, SUM(sessions) AS sessions, SUM(orders) AS orders, SUM(revenue) AS revenue, "
            f"SUM(1.0 * converted_sessions * control_sessions / {n}) AS r, "
            f"SUM(1.0 * control_converted * sessions / {n}) AS s, "
            f"SUM((1.0 * sessions * control_sessions * (converted_sessions + control_converted) "
            f"- 1.0 * converted_sessions * control_converted * {n}) / ({n} * {n})) AS p "
            f"FROM gold.campaign_performance_hourly WHERE {_between('local_date', first, last)} "
            f"GROUP BY campaign ORDER BY sessions DESC, campaign LIMIT {int(top)}",
        )
    found = _numbers(found, "sessions", "orders", "revenue", "r", "s", "p")
    lifts = [mh_sums_to_lift(r, s, p) for r, s, p in zip(found["r"], found["s"], found["p"], strict=True)]
    found["lift"] = [x[0] if x else None for x in lifts]
    found["low"] = [x[1] if x else None for x in lifts]
    found["high"] = [x[2] if x else None for x in lifts]
    found = found.dropna(subset=["lift"]).sort_values(["lift", "campaign"], ascending=[True, False])
    fig = go.Figure()
    if len(found):
        fig.add_trace(
            go.Bar(
                x=found["lift"], y=found["campaign"], orientation="h", name="conversion lift",
                error_x={"type": "data", "symmetric": False, "array": found["high"] - found["lift"],
                         "arrayminus": found["lift"] - found["low"]},
                customdata=found[["sessions", "orders", "revenue"]].to_numpy(),
                hovertemplate="%{y}: %{x:+.0%} conversion (%{customdata[0]:,.0f} sessions, "
                "%{customdata[1]:,.0f} orders, IDR %{customdata[2]:,.0f})<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(xaxis_title="conversion lift against non-campaign sessions", xaxis_tickformat="+.0%")
    if not present:
        _not_in_warehouse(fig, "gold.campaign_performance_hourly", "gold_campaigns")
    return fig


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>detak behaviour report {first} – {last}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }} section {{ margin: 2rem 0; }}
.tiles {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(10.5rem, 1fr)); gap: 0.8rem; }}
.tile {{ border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 0.8rem; }}
.tile .label {{ font-size: 0.8rem; color: #555; }} .tile .value {{ font-size: 1.4rem; font-weight: 600; }}
.tile .change {{ font-size: 0.8rem; color: #555; }} .up {{ color: #1a7f37; }} .down {{ color: #b42318; }}
.note {{ font-size: 0.85rem; color: #555; margin: 0.2rem 0; }} .blocked {{ color: #b42318; font-weight: 600; }}
</style>
<script>{plotly_js}</script></head>
<body>
<h1>Customer behaviour, {first} – {last}</h1>
<p id="clock">Every day and hour on this page is the shop's local time ({timezone}).</p>
<p>Read from the {target} warehouse: only table versions that passed the quality gate are published there.
Validation results: <a id="data-docs" href="{data_docs}">Great Expectations Data Docs</a>.</p>
<section><h2>Week over week</h2>
<p class="note">The 7 days to {last} against the 7 days before them.</p>{tiles}</section>
<section><h2>Per day</h2>{summary}</section>
{charts}
<section><h2>Quality gate and freshness</h2>
<p class="note">The last publication of each table: whether the gate let it through, and what readers see now.</p>
{status}</section>
</body></html>
"""


def _summary_html(days: list[DaySummary]) -> str:
    columns = ("date", "sessions", "conversion", "orders", "revenue (IDR)", "abandoned carts", "value lost (IDR)",
               "bot share", "top abandonment reasons")  # fmt: skip
    head = "".join(f"<th>{h}</th>" for h in columns)
    rows = "".join(
        f"<tr><td>{d.date} {d.date:%a}</td><td class=n>{d.sessions:,}</td><td class=n>{d.conversion:.2%}</td>"
        f"<td class=n>{d.orders:,}</td><td class=n>{d.revenue:,}</td>"
        f"<td class=n>{d.abandonment_rate:.1%} of {d.carts:,}</td><td class=n>{d.value_lost:,}</td>"
        f"<td class=n>{d.bot_share:.1%}</td>"
        f"<td>{html.escape(', '.join(f'{r} {n:,}' for r, n in d.top_reasons))}</td></tr>"
        for d in days
    )
    return f'<table id="summary"><tr>{head}</tr>{rows}</table>'


def _kpi_value(kpi: Kpi, value: float | None) -> str:
    if value is None:
        return "–"
    if kpi.kind == "rate":
        return f"{value:.1%}" if value >= 0.001 or value == 0 else f"{value:.2%}"
    return f"{value:,.0f}"


def _tiles_html(kpis: list[Kpi]) -> str:
    tiles = []
    for k in kpis:
        change = k.change
        if change is None:
            said, css = "no week before to compare", ""
        else:
            arrow = "▲" if change > 0 else "▼" if change < 0 else "●"
            amount = f"{abs(change) * 100:.1f} pp" if k.kind == "rate" else f"{abs(change):.1%}"
            css = "up" if change > 0 else "down" if change < 0 else ""
            said = f"{arrow} {amount} against {_kpi_value(k, k.previous)}"
        tiles.append(
            f'<div class="tile" data-kpi="{k.key}"><div class="label">{html.escape(k.label)}</div>'
            f'<div class="value">{_kpi_value(k, k.value)}</div><div class="change {css}">{said}</div></div>'
        )
    return f'<div class="tiles" id="kpis">{"".join(tiles)}</div>'


def _status_html(status: pd.DataFrame, now: datetime) -> str:
    if status.empty:
        return '<p id="status">No publication recorded in this warehouse yet.</p>'
    head = "".join(f"<th>{h}</th>" for h in ("table", "gate", "newest date", "rows", "published (shop time)", "age"))
    rows = []
    for r in status.itertuples():
        if r.status == "published":
            gate = "passed, published"
        else:
            gate = f'<span class="blocked">{html.escape(str(r.status))}</span>: {html.escape(str(r.detail))}'
        when, age = "never", ""
        if r.published_at is not None and not pd.isna(r.published_at):
            at = pd.Timestamp(r.published_at).to_pydatetime().replace(tzinfo=None)
            when = f"{at:%Y-%m-%d %H:%M}"
            hours = max((now - at).total_seconds() / 3600, 0.0)
            age = f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
        newest = "" if r.latest_date is None or pd.isna(r.latest_date) else str(_as_date(r.latest_date))
        count = "" if r.row_count is None or pd.isna(r.row_count) else f"{int(r.row_count):,}"
        rows.append(
            f"<tr><td>{html.escape(str(r.table_name))}</td><td>{gate}</td><td>{newest}</td>"
            f"<td class=n>{count}</td><td>{when}</td><td class=n>{age}</td></tr>"
        )
    return f'<table id="status"><tr>{head}</tr>{"".join(rows)}</table>'


def build_report(
    settings: Settings,
    out: Path | None = None,
    first: date | None = None,
    last: date | None = None,
    *,
    target: str | None = None,
    top_queries: int = 15,
) -> tuple[Path, list[DaySummary]]:
    """Write the HTML report for the shop days ``first``..``last`` (default: every published day);
    return it and the per-day summary."""
    from zoneinfo import ZoneInfo

    from plotly.offline import get_plotlyjs

    wh = warehouse(settings, target)
    clock = clock_of(settings)
    if first is None or last is None:
        lo, hi = published_range(wh, clock)
        first, last = first or lo, last or hi
    days = daily_summary(wh, first, last, clock)
    figures = report_figures(wh, first, last, top_queries, clock)
    charts = []
    for chart_id, title in CHARTS:
        fig = figures[chart_id]
        if not has_data(fig) and not fig.layout.annotations:
            _say(fig, f"No rows in {first} .. {last}.")
        fig.update_layout(margin={"t": 30, "b": 40}, height=420, legend_title_text="")
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id, config={"displaylogo": False})
        note = ""
        if chart_id in UTC_DAY_CHARTS:
            name, day_of, rows = UTC_DAY_CHARTS[chart_id]
            note = (
                f'<p class="note">{name} is kept per UTC day of {day_of}, which has no time to move to the '
                f"shop's day: these are the {rows} of the UTC days {first} – {last}.</p>"
            )
        if chart_id in AS_OF_CHARTS:
            note = (
                '<p class="note">gold.customer_segments places each customer as of 00:00 UTC of an as-of date, '
                f"from the data before it: these are {AS_OF_CHARTS[chart_id].format(first=first, last=last)}.</p>"
            )
        charts.append(f'<section class="chart"><h2>{html.escape(title)}</h2>{note}{body}</section>')
    out = out or settings.path("reports") / "behaviour.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Links relative to the page, so no machine path appears in it and the folder can be moved whole.
    docs = Path(os.path.relpath(Path(settings["quality"]["data_docs_dir"]).resolve(), out.parent.resolve()))
    now = datetime.now(UTC).astimezone(ZoneInfo(clock.timezone)).replace(tzinfo=None)
    page = PAGE.format(
        first=first, last=last, timezone=html.escape(clock.timezone), target=wh.kind,
        data_docs=(docs / 'index.html').as_posix(), tiles=_tiles_html(week_over_week(wh, last, clock)),
        summary=_summary_html(days), charts="\n".join(charts), status=_status_html(table_status(wh, clock), now),
        plotly_js=get_plotlyjs(),
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


#: Per chart id, its traces in the page: type, name, x, y, and a Sankey's node labels and links.
TRACES_JS = """ids => Object.fromEntries(ids.map(id => [id, document.getElementById(id)._fullData.map(t => {
    const list = v => (v == null ? null : Array.from(v));
    return {type: t.type, name: t.name, x: list(t.x), y: list(t.y), labels: t.node ? list(t.node.label) : null,
            source: t.link ? list(t.link.source) : null, target: t.link ? list(t.link.target) : null,
            value: t.link ? list(t.link.value) : null};
})]))"""


def render_in_chromium(page_file: Path, screenshot: Path, browser: str = "chromium") -> dict[str, Any]:
    """Open a report in headless Chromium: console errors, whether each chart drew, the summary rows,
    the KPI tiles' values (``tiles``: id → shown value), the gate-status rows and each chart's
    traces (``traces``: id → :data:`TRACES_JS`'s records).

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
                f"#{chart_id} .main-svg g.trace, #{chart_id} .main-svg g.hm image, "
                f"#{chart_id} .main-svg g.sankey-node, #{chart_id} .main-svg g.annotation"
            ).count()
            charts[chart_id] = drawn > 0
        summary = page.eval_on_selector_all(
            "#summary tr:not(:first-child)", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))"
        )
        tiles = page.eval_on_selector_all(
            "#kpis .tile", "ts => Object.fromEntries(ts.map(t => [t.dataset.kpi, t.querySelector('.value').innerText]))"
        )
        status = page.eval_on_selector_all(
            "#status tr:not(:first-child)", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))"
        )
        # What each chart carries as plotly drew it: _fullData, whose arrays are decoded from the
        # page's base64 typed arrays (the chart's own data keeps them encoded).
        traces = page.evaluate(TRACES_JS, [chart_id for chart_id, _ in CHARTS])
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        chromium.close()
    return {
        "errors": errors,
        "charts": charts,
        "summary": summary,
        "tiles": tiles,
        "status": status,
        "traces": traces,
    }
