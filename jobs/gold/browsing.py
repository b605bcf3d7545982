"""The gold browsing job: silver → the browsing-pattern tables analysts open first.

Incremental by data (:mod:`jobs.common.manifest`): a run rewrites the dates silver rewrote since
the silver versions it last consumed, plus the dates those changes reach: the day before an order's
date (an order belongs to a session that may have begun the day before), the date a week later
whose funnel rows compare with a changed date (``previous_period_days``), and the dates of a
device's sessions whose tenure moved: an earlier session or an earlier order turned up late, so its
later sessions are older customers than they were published as (new, returning or loyal). Each table is
partitioned by date and those dates are replaced in one Delta transaction per table, so a re-run
gives the same tables and N runs give what one rebuild gives. A run with nothing new does nothing.

Each rewritten date is built from silver rows of the date plus one day after (a session may run
past midnight, and its orders with it) and the sessions of the day before. History outside the
dates is read only where a figure needs it: each device's first session and first order (tenure)
and the funnel of the previous period.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import around, as_date, describe, in_dates
from jobs.common.tables import add_missing_columns, ensure_table, read_table, replace_partitions
from jobs.gold import funnel, paths, products, search, sessions, traffic

INPUTS = ("silver.events", "silver.sessions", "silver.orders", "silver.order_items")
OUTPUTS = (
    "gold.session_facts",
    "gold.funnel_daily",
    "gold.page_transitions_daily",
    "gold.navigation_paths",
    "gold.search_quality_daily",
    "gold.product_engagement_daily",
    "gold.product_pairs_daily",
    "gold.traffic_hourly",
)
#: The silver.events columns the browsing tables read. Only these are read and cached: the cached
#: events are a third of the row's width (a table that needs another column fails at analysis,
#: naming it, so add it here).
EVENT_COLUMNS = (
    "event_id", "event_type", "event_time", "event_date", "local_date", "local_hour", "anonymous_id",
    "consent_analytics", "session_id", "is_bot", "page_type", "channel", "device_type", "region",
    "engaged_ms", "product_id", "top_category", "brand", "quantity", "position", "cart_id", "search_id",
    "query", "results_count",
)  # fmt: skip
#: A session may run past midnight: into the day after a date, or from the day before into it.
SPILL_DAYS = 1


def build(
    events: DataFrame,
    silver_sessions: DataFrame,
    orders: DataFrame,
    order_items: DataFrame,
    first_seen: DataFrame,
    first_orders: DataFrame,
    earlier_funnel: DataFrame,
    dates: set[date],
    settings: Settings,
) -> dict[str, DataFrame]:
    """Every gold browsing table for ``dates`` (pure: inputs in, frames out).

    ``events``, ``orders`` and ``order_items`` cover the dates and the day after each;
    ``silver_sessions`` the dates and the day before each; ``first_seen`` and ``first_orders`` are
    ``sessions.first_seen`` and ``sessions.first_purchase`` over the whole history;
    ``earlier_funnel`` holds the gold.funnel_daily rows of the compared dates
    (``previous_period_days`` before each date) that are not among ``dates``.
    """
    params = settings["gold"]["browsing"]
    timeout = float(settings["silver"]["sessions"]["timeout_minutes"])
    # Sessions of the day before a date scope the events they carry past midnight into it.
    scoped, with_spill = sessions.behaviour_scope(events, silver_sessions)
    consenting = with_spill.where(in_dates("session_date", dates))
    scoped = scoped.persist()
    owned = sessions.session_orders(with_spill, orders, timeout).persist()
    facts = sessions.transform(consenting, scoped, owned, first_seen, first_orders, params).persist()
    session_dates = facts.select("session_id", "session_date")
    # Search quality, product engagement and product pairs all read the dated events.
    dated = scoped.join(session_dates, "session_id").persist()
    bought = products.bought_products(owned, order_items)

    steps = funnel.steps_from(params)
    current = funnel.transform(facts, funnel.step_times(facts, scoped, owned, steps), steps).persist()
    sequences = paths.page_sequences(scoped, facts)
    in_window = in_dates("event_date", dates)
    return {
        "gold.session_facts": facts,
        "gold.funnel_daily": funnel.with_previous(current, earlier_funnel, params),
        "gold.page_transitions_daily": paths.transitions(sequences),
        "gold.navigation_paths": paths.top_paths(sequences, params),
        "gold.search_quality_daily": search.transform(
            dated,
            bought,
            facts.select("session_id", F.coalesce("user_id", "anonymous_id").alias("person")),
            params,
        ),
        "gold.product_engagement_daily": products.engagement(dated, bought, session_dates),
        "gold.product_pairs_daily": products.pairs(dated, bought, session_dates, params),
        "gold.traffic_hourly": traffic.transform(
            events.where(in_window),
            scoped.where(in_window),
            consenting,
            orders.where(in_dates("order_date", dates)),
            params,
        ),
    }


def affected_dates(plan: manifest.Plan, settings: Settings) -> set[date]:
    """The dates a run must rewrite for the silver changes in ``plan`` (see the module docstring),
    before the first-session moves :func:`moved_first_sessions` adds."""
    previous = int(settings["gold"]["browsing"]["previous_period_days"])
    changed = plan.dates("silver.events", "silver.sessions")
    ordered = plan.dates("silver.orders", "silver.order_items")
    dates = changed | around(ordered, SPILL_DAYS, 0)
    return {d for d in dates | {d + timedelta(days=previous) for d in dates} if d <= plan.run_date}


def moved_tenure(
    spark: SparkSession,
    settings: Settings,
    first_seen: DataFrame,
    first_orders: DataFrame,
    devices: DataFrame,
    dates: set[date],
) -> set[date]:
    """Dates outside ``dates`` holding a session of one of ``devices`` (those with sessions or orders
    among the new rows) published with another first session or first order than the device has now:
    a late event or order gave it an earlier one, so that date's tenure (and new vs returning) moves."""
    facts = read_table(spark, "gold.session_facts", settings).where(~in_dates("session_date", dates))
    now = (
        facts.join(devices, "anonymous_id", "left_semi")
        .join(first_seen, "anonymous_id", "left")
        .join(first_orders, "anonymous_id", "left")
    )
    seen, bought = sessions.tenure_days(F.col("session_start"), F.col("first_session_start"), F.col("first_order_at"))
    new = F.col("first_session_start").isNull() | (F.col("first_session_start") >= F.col("session_start"))
    moved = (
        ~F.col("days_since_first_seen").eqNullSafe(seen)
        | ~F.col("days_since_first_purchase").eqNullSafe(bought)
        | ((F.col("visitor_type") == "new") != new)
    )
    rows = now.where(moved).select("session_date").distinct().collect()  # bounded: one row per date
    return {as_date(r[0]) for r in rows}


def run_browsing(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite the gold browsing dates silver changed (and ``since`` .. ``run_date`` when given)."""
    for name in (*INPUTS, *OUTPUTS):
        ensure_table(spark, name, settings)
    # A funnel table made before sessions_any_order gains the column (null on its older rows).
    add_missing_columns(spark, "gold.funnel_daily", settings)
    # Tables made before tenure gain its columns; every date is rebuilt once, since tenure is a
    # dimension of the funnel (older rows would sit in a segment of their own).
    if add_missing_columns(spark, "gold.session_facts", settings):
        oldest = read_table(spark, "gold.session_facts", settings).agg(F.min("session_date")).first()
        known = oldest[0] if oldest else None
        if known is not None and (since is None or known < since):
            print(f"gold browsing: tenure added to older tables, rebuilding from {known}", flush=True)
            since = as_date(known)
    plan = manifest.plan(spark, settings, "gold_browsing", run_date, INPUTS, run_id=run_id)
    dates = affected_dates(plan, settings)
    if since is not None:
        dates |= {since + timedelta(days=i) for i in range((run_date - since).days + 1)}
    if not dates:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    history = plan.read(spark, "silver.sessions", settings).where(F.col("session_date") <= F.lit(run_date))
    first_seen = sessions.first_seen(history).persist()
    all_orders = plan.read(spark, "silver.orders", settings).where(F.col("order_date") <= F.lit(run_date))
    first_orders = sessions.first_purchase(all_orders).persist()
    # Devices whose first session or first order can have moved: those with rows among the changes.
    changed = plan.dates(*INPUTS)
    devices = (
        plan.read(spark, "silver.sessions", settings)
        .where(in_dates("session_date", changed))
        .select("anonymous_id")
        .unionByName(all_orders.where(in_dates("order_date", changed)).select("anonymous_id"))
        .where(F.col("anonymous_id").isNotNull())
        .distinct()
    )
    dates |= {d for d in moved_tenure(spark, settings, first_seen, first_orders, devices, dates) if d <= run_date}
    report: dict[str, Any] = {"run_date": str(run_date), "dates": describe(dates)}
    written: dict[str, int] = {}
    after = around(dates, 0, SPILL_DAYS)
    events = plan.read(spark, "silver.events", settings).where(in_dates("event_date", after)).select(*EVENT_COLUMNS)
    silver_sessions = plan.read(spark, "silver.sessions", settings).where(
        in_dates("session_date", around(dates, SPILL_DAYS, 0))
    )
    orders = plan.read(spark, "silver.orders", settings).where(in_dates("order_date", after))
    items = plan.read(spark, "silver.order_items", settings).where(in_dates("order_date", after))
    previous_days = int(settings["gold"]["browsing"]["previous_period_days"])
    compared = {d - timedelta(days=previous_days) for d in dates} - dates
    earlier = read_table(spark, "gold.funnel_daily", settings).where(in_dates("date", compared))
    outputs = build(events, silver_sessions, orders, items, first_seen, first_orders, earlier, dates, settings)
    for name, df in outputs.items():
        replace_partitions(df, name, dates, settings)
    spark.catalog.clearCache()
    for name in outputs:
        col = "session_date" if name == "gold.session_facts" else "date"
        written[name] = read_table(spark, name, settings).where(in_dates(col, dates)).count()
    first_seen.unpersist()
    first_orders.unpersist()
    manifest.record(spark, settings, plan, {name: dates for name in OUTPUTS}, rows=written)
    return {**report, "rows": written}
