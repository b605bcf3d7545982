"""The daily gold browsing job: silver → the browsing-pattern tables analysts open first.

For run date D it rewrites the dates of silver's window (D - ``silver.lookback_days`` .. D), which
are the dates silver may have changed, from silver rows of those dates plus one day after (a session
may run past midnight, and its orders with it). Every table is partitioned by date and replaced in
one Delta transaction per table, so re-running a date gives the same tables and N daily runs give
what one rebuild gives. History outside the window is read only where a figure needs it: each
device's first session (new vs returning) and the funnel of the previous period.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import ensure_table, read_table, replace_dates
from jobs.gold import funnel, paths, products, search, sessions, traffic
from jobs.registry import GOLD_BROWSING
from jobs.silver.daily import Window, window_for

INPUTS = ("silver.events", "silver.sessions", "silver.orders", "silver.order_items")
OUTPUTS = GOLD_BROWSING
#: The silver.events columns the browsing tables read. Only these are read and cached: the cached
#: events are a third of the row's width (a table that needs another column fails at analysis,
#: naming it, so add it here).
EVENT_COLUMNS = (
    "event_id", "event_type", "event_time", "event_date", "local_date", "local_hour", "anonymous_id",
    "consent_analytics", "session_id", "is_bot", "page_type", "channel", "device_type", "region",
    "engaged_ms", "product_id", "top_category", "brand", "quantity", "position", "cart_id", "search_id",
    "query", "results_count",
)  # fmt: skip
#: A session may run past midnight: into the day after the window, or from the day before into it.
SPILL = timedelta(days=1)


def _between(col: str, start: date, end: date) -> Any:
    return F.col(col).between(F.lit(start), F.lit(end))


def build(
    events: DataFrame,
    silver_sessions: DataFrame,
    orders: DataFrame,
    order_items: DataFrame,
    first_seen: DataFrame,
    earlier_funnel: DataFrame,
    window: Window,
    settings: Settings,
) -> dict[str, DataFrame]:
    """Every gold browsing table for ``window`` (pure: inputs in, frames out).

    ``events``, ``orders`` and ``order_items`` cover the window and the day after it;
    ``silver_sessions`` the window and the day before it; ``first_seen`` is ``sessions.first_seen`` over the whole
    history; ``earlier_funnel`` holds gold.funnel_daily of the previous period before the window.
    """
    params = settings["gold"]["browsing"]
    timeout = float(settings["silver"]["sessions"]["timeout_minutes"])
    # Sessions of the day before the window scope the events they carry past midnight into it.
    scoped, with_spill = sessions.behaviour_scope(events, silver_sessions)
    consenting = with_spill.where(_between("session_date", window.start, window.end))
    scoped = scoped.persist()
    owned = sessions.session_orders(with_spill, orders, timeout).persist()
    facts = sessions.transform(consenting, scoped, owned, first_seen, params).persist()
    dates = facts.select("session_id", "session_date")
    # Search quality, product engagement and product pairs all read the dated events.
    dated = scoped.join(dates, "session_id").persist()
    bought = products.bought_products(owned, order_items)

    steps = funnel.steps_from(params)
    current = funnel.transform(facts, funnel.step_times(facts, scoped, owned, steps), steps).persist()
    sequences = paths.page_sequences(scoped, facts)
    in_window = _between("event_date", window.start, window.end)
    return {
        "gold.session_facts": facts,
        "gold.funnel_daily": funnel.with_previous(current, earlier_funnel, params),
        "gold.page_transitions_daily": paths.transitions(sequences),
        "gold.navigation_paths": paths.top_paths(sequences, params),
        "gold.search_quality_daily": search.transform(dated, bought, params),
        "gold.product_engagement_daily": products.engagement(dated, bought, dates),
        "gold.product_pairs_daily": products.pairs(dated, bought, dates, params),
        "gold.traffic_hourly": traffic.transform(
            events.where(in_window),
            scoped.where(in_window),
            consenting,
            orders.where(_between("order_date", window.start, window.end)),
            params,
        ),
    }


def run_browsing(spark: SparkSession, run_date: date, settings: Settings, since: date | None = None) -> dict[str, Any]:
    """Build the gold browsing tables for ``run_date``'s window (from ``since``'s); returns rows per table."""
    window = window_for(run_date, settings["silver"], since)
    for name in (*INPUTS, *OUTPUTS):
        ensure_table(spark, name, settings)
    after = window.end + SPILL
    events = (
        read_table(spark, "silver.events", settings)
        .where(_between("event_date", window.start, after))
        .select(*EVENT_COLUMNS)
    )
    silver_sessions = read_table(spark, "silver.sessions", settings).where(
        _between("session_date", window.start - SPILL, window.end)
    )
    orders = read_table(spark, "silver.orders", settings).where(_between("order_date", window.start, after))
    items = read_table(spark, "silver.order_items", settings).where(_between("order_date", window.start, after))
    history = read_table(spark, "silver.sessions", settings).where(F.col("session_date") <= F.lit(window.end))
    previous_days = int(settings["gold"]["browsing"]["previous_period_days"])
    earlier = read_table(spark, "gold.funnel_daily", settings).where(
        _between("date", window.start - timedelta(days=previous_days), window.start - timedelta(days=1))
    )
    outputs = build(events, silver_sessions, orders, items, sessions.first_seen(history), earlier, window, settings)
    written: dict[str, int] = {}
    for name, df in outputs.items():
        replace_dates(df, name, window.start, window.end, settings)
    spark.catalog.clearCache()
    for name in outputs:
        col = "session_date" if name == "gold.session_facts" else "date"
        written[name] = read_table(spark, name, settings).where(_between(col, window.start, window.end)).count()
    return {"run_date": str(run_date), "window": [str(window.start), str(window.end)], "rows": written}
