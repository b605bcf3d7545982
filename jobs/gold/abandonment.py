"""Gold cart abandonment: one row per cart with its outcome, the stage it reached and why it was left.

A cart's *first life* is its run of events (silver.events with its ``cart_id``) up to the first
pause of ``window_hours`` or more. An order placed within ``window_hours`` of the first life's last
event converts the cart; an order after that recovers it; a first life that ends with the cart
emptied by the shopper is ``emptied``, never abandoned; otherwise the cart is ``abandoned`` once the
window has closed (at the end of the run date) and ``open`` until then. Reasons are read from the
first life's evidence only, so a recovered cart keeps the reasons it was left for.

Incremental by data (:mod:`jobs.common.manifest`): a cart is made only of the events and orders of
its first ``lookback_days`` days after its creation date, so a change of silver on date d can only
change carts created on d - ``lookback_days`` .. d (partition ``cart_date``). A run rewrites exactly
those cart dates for the silver dates changed since its last run, and, when its run date has moved
on, the dates holding carts still ``open`` (their window may have closed since). Every run that
rewrites a cart reads the same data for it, so N runs give the same tables as one rebuild (a test
proves it). Cart events are read ``lookback_days`` further back as context, so a cart created
before a rewritten date is recognised as such and left in its own partition.

Bots' carts (any event of an actor with a bot verdict) and carts with an event without analytics
consent are left out and counted.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import around, as_date, describe, in_dates, runs
from jobs.common.tables import conform, ensure_table, read_table, replace_partitions

STAGES = ("cart", "checkout", "shipping", "payment")
#: The event types that show a cart reached a stage (the stage is the furthest one seen).
STAGE_OF_EVENT = {
    "add_to_cart": 1,
    "remove_from_cart": 1,
    "cart_view": 1,
    "begin_checkout": 2,
    "add_shipping_info": 3,
    "add_payment_info": 4,
    "payment_failed": 4,
}
REASONS = (
    "payment_failure",
    "out_of_stock",
    "shipping_cost_shock",
    "coupon_rejected",
    "price_increase",
    "slow_pages",
    "browsing_alternatives",
    "no_checkout_started",
)
UNKNOWN = "unknown"
#: Outcomes that have reasons (open carts get provisional ones).
WITH_REASONS = ("abandoned", "recovered", "open")


def params_of(settings: Settings) -> dict[str, Any]:
    """The ``gold.abandonment`` section, checked: precedence must rank every reason exactly once."""
    params = dict(settings["gold"]["abandonment"])
    if sorted(params["precedence"]) != sorted(REASONS):
        raise ValueError(f"gold.abandonment.precedence must list each of {sorted(REASONS)} once")
    return params


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min)


def _ts(d: date) -> Column:
    return F.lit(_day_start(d)).cast("timestamp")


def cart_lives(events: DataFrame, run_date: date, params: dict[str, Any], start: date | None = None) -> DataFrame:
    """Cart events of the carts' first lives, with ``created``, ``cart_date`` and ``as_of``.

    ``events`` are silver.events rows; only those with a ``cart_id`` count. A cart's data end at
    ``as_of``: the end of the run date, or the end of its ``lookback_days``-th day when that is earlier.
    Carts created before ``start`` (when given) are dropped.
    """
    window_s = int(float(params["window_hours"]) * 3600)
    lookback = int(params["lookback_days"])
    ev = events.where(F.col("cart_id").isNotNull())
    by_cart = Window.partitionBy("cart_id")
    ev = (
        ev.withColumn("created", F.min("event_time").over(by_cart))
        .withColumn("cart_date", F.to_date("created"))
        .withColumn(
            "as_of",
            F.least(
                _ts(run_date + timedelta(days=1)),
                F.date_add("cart_date", lookback + 1).cast("timestamp"),
            ),
        )
        .where(F.col("event_time") < F.col("as_of"))
    )
    if start is not None:
        ev = ev.where(F.col("cart_date") >= F.lit(start))
    ordered = Window.partitionBy("cart_id").orderBy("event_time", "event_id")
    gap = F.col("event_time").cast("long") - F.lag("event_time").over(ordered).cast("long")
    ev = ev.withColumn("_pause", F.coalesce((gap >= window_s).cast("int"), F.lit(0)))
    ev = ev.withColumn("_life", F.sum("_pause").over(ordered.rowsBetween(Window.unboundedPreceding, 0)))
    return ev.where(F.col("_life") == 0).drop("_pause", "_life")


def _last_by_time(value: Column) -> Column:
    """The value of the latest event where it is not null (ties broken by event_id)."""
    return F.max_by(value, F.when(value.isNotNull(), F.struct("event_time", "event_id")))


def cart_facts(life: DataFrame) -> DataFrame:
    """One row per cart: identity, timing, content and the first life's direct evidence."""
    et = F.col("event_type")
    stage_rank = F.create_map(*[x for k, v in STAGE_OF_EVENT.items() for x in (F.lit(k), F.lit(v))])
    signed_qty = (
        F.when(et == "add_to_cart", F.coalesce("quantity", F.lit(1)))
        .when(et == "remove_from_cart", -F.coalesce("quantity", F.lit(1)))
        .otherwise(0)
    )
    first = F.struct("event_time", "event_id")
    return life.groupBy("cart_id").agg(
        F.min("created").alias("created"),
        F.min("cart_date").alias("cart_date"),
        F.min("as_of").alias("as_of"),
        F.max("event_time").alias("last_activity"),
        F.min_by("session_id", first).alias("session_id"),
        F.min_by("anonymous_id", first).alias("anonymous_id"),
        _last_by_time(F.col("user_id")).alias("user_id"),
        F.min_by("device_type", first).alias("device_type"),
        F.count_distinct("session_id").alias("sessions"),
        F.max(stage_rank[et]).alias("_stage"),
        _last_by_time(F.col("cart_value")).alias("_last_value"),
        _last_by_time(F.when(F.col("items").isNotNull(), F.size("items"))).alias("_last_items"),
        F.max_by(et, first).alias("_last_event"),
        F.sum(signed_qty).alias("_net_units"),
        F.sum(signed_qty * F.coalesce("price", F.lit(0))).alias("_net_value"),
        F.max(F.when(et == "add_shipping_info", F.col("shipping_cost"))).alias("shipping_cost"),
        F.max(
            F.when(
                (et == "add_shipping_info") & (F.col("cart_value") > 0), F.col("shipping_cost") / F.col("cart_value")
            )
        ).alias("shipping_share"),
        F.count(F.when(et == "payment_failed", 1)).alias("failed_payments"),
        F.array_sort(F.collect_set(F.when(et == "payment_failed", F.col("error_code")))).alias("payment_error_codes"),
        F.count(F.when((et == "error") & (F.col("error_code") == "out_of_stock"), 1)).alias("out_of_stock_errors"),
        F.count(F.when((et == "apply_coupon") & (F.col("coupon_result") == "rejected"), 1)).alias("coupon_rejections"),
        F.array_sort(F.collect_set(F.when(et == "apply_coupon", F.col("coupon_reason")))).alias("coupon_reasons"),
    )


def price_changes(life: DataFrame) -> DataFrame:
    """Per cart, the largest relative change of a unit price since the item was added.

    The price at adding is the add_to_cart event's price; the latest is the unit price in the last
    cart snapshot (``items``) of the first life that holds the product.
    """
    added = (
        life.where((F.col("event_type") == "add_to_cart") & F.col("price").isNotNull())
        .groupBy("cart_id", "product_id")
        .agg(F.min_by("price", F.struct("event_time", "event_id")).alias("added_price"))
    )
    seen = (
        life.where(F.col("items").isNotNull())
        .select("cart_id", "event_time", "event_id", F.explode("items").alias("line"))
        .select("cart_id", "event_time", "event_id", F.col("line.product_id").alias("product_id"), "line.unit_price")
        .where(F.col("unit_price").isNotNull())
        .groupBy("cart_id", "product_id")
        .agg(F.max_by("unit_price", F.struct("event_time", "event_id")).alias("latest_price"))
    )
    change = (F.col("latest_price") - F.col("added_price")) / F.col("added_price")
    return (
        added.join(seen, ["cart_id", "product_id"])
        .where(F.col("added_price") > 0)
        .groupBy("cart_id")
        .agg(F.max(change).alias("price_change_pct"))
    )


def page_evidence(facts: DataFrame, life: DataFrame, events: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Per cart, page loads and failing pages on its path, and alternatives viewed after adding.

    The path is every event of the first life's sessions from the cart's creation to its last
    activity. Alternatives are product views in the session of the cart's creation after it, up to
    the next cart created in that session, of a product not in the cart from the category of an item.
    """
    cart_sessions = life.where(F.col("session_id").isNotNull()).select("cart_id", "session_id").distinct()
    spans = cart_sessions.join(facts.select("cart_id", "created", "last_activity"), "cart_id")
    ev = events.where(F.col("session_id").isNotNull()).select(
        "session_id", "event_time", "event_type", "error_code", "page_load_ms", "product_id", "category"
    )
    on_path = (
        ev.alias("e")
        .join(spans.alias("s"), "session_id")
        .where(F.col("e.event_time").between(F.col("s.created"), F.col("s.last_activity")))
    )
    paths = on_path.groupBy("cart_id").agg(
        F.percentile_approx("page_load_ms", 0.9).alias("p90_page_load_ms"),
        F.count(F.when(F.col("page_load_ms") >= int(params["slow_page_ms"]), 1)).alias("slow_page_loads"),
        F.count(
            F.when((F.col("event_type") == "error") & (F.coalesce("error_code", F.lit("")) != "out_of_stock"), 1)
        ).alias("page_errors"),
    )

    in_cart = (
        life.where(F.col("product_id").isNotNull())
        .groupBy("cart_id")
        .agg(
            F.collect_set("product_id").alias("_products"),
            F.collect_set(F.when(F.col("event_type") == "add_to_cart", F.col("category"))).alias("_categories"),
        )
    )
    next_cart = Window.partitionBy("session_id").orderBy("created", "cart_id")
    starts = (
        facts.where(F.col("session_id").isNotNull())
        .select("cart_id", "session_id", "created")
        .withColumn("_next", F.lead("created").over(next_cart))
        .join(in_cart, "cart_id")
    )
    alternatives = (
        ev.where(F.col("event_type") == "product_view")
        .alias("e")
        .join(starts.alias("s"), "session_id")
        .where(
            (F.col("e.event_time") > F.col("s.created"))
            & (F.col("s._next").isNull() | (F.col("e.event_time") < F.col("s._next")))
            & ~F.array_contains("_products", F.col("e.product_id"))
            & F.array_contains("_categories", F.col("e.category"))
        )
        .groupBy("cart_id")
        .agg(F.count_distinct("e.product_id").alias("alternatives_viewed"))
    )
    return facts.select("cart_id").join(paths, "cart_id", "left").join(alternatives, "cart_id", "left")


def reason_columns(params: dict[str, Any]) -> dict[str, Column]:
    """Each reason's rule on the evidence columns (true when the signal is present)."""
    return {
        "payment_failure": F.col("failed_payments") >= int(params["min_failed_payments"]),
        "out_of_stock": F.col("out_of_stock_errors") >= int(params["min_out_of_stock_errors"]),
        "shipping_cost_shock": F.coalesce(
            F.col("shipping_share") >= float(params["shipping_share_threshold"]), F.lit(False)
        ),
        "coupon_rejected": F.col("coupon_rejections") >= int(params["min_coupon_rejections"]),
        "price_increase": F.coalesce(
            F.col("price_change_pct") >= float(params["price_increase_threshold"]), F.lit(False)
        ),
        "slow_pages": F.coalesce(F.col("p90_page_load_ms") >= int(params["slow_page_ms"]), F.lit(False))
        | (F.col("page_errors") >= int(params["min_page_errors"])),
        "browsing_alternatives": F.col("alternatives_viewed") >= int(params["min_alternatives"]),
        "no_checkout_started": F.col("stage_reached") == "cart",
    }


def with_reasons(carts: DataFrame, params: dict[str, Any]) -> DataFrame:
    """``reasons`` (every signal present, in precedence order) and ``primary_reason`` (the first).

    Only carts that were left (abandoned, recovered, or open for now) get reasons; a left cart with
    no signal is ``unknown``.
    """
    rules = reason_columns(params)
    found = F.filter(F.array(*[F.when(rules[r], F.lit(r)) for r in params["precedence"]]), lambda x: x.isNotNull())
    left = F.col("outcome").isin(*WITH_REASONS)
    reasons = F.when(left, found).otherwise(F.array().cast("array<string>"))
    return carts.withColumn("reasons", reasons).withColumn(
        "primary_reason", F.when(left, F.coalesce(F.get(F.col("reasons"), 0), F.lit(UNKNOWN)))
    )


def transform(
    events: DataFrame,
    orders: DataFrame,
    sessions: DataFrame,
    run_date: date,
    params: dict[str, Any],
    start: date | None = None,
) -> DataFrame:
    """gold.cart_abandonment rows for every cart in ``events`` (pure: no reads, no writes).

    ``events``: silver.events of humans with consent (the caller leaves bots and non-consented
    carts out); ``orders``: silver.orders; ``sessions``: silver.sessions (for the channel).
    Carts created before ``start`` (when given) are left out.
    """
    window_s = int(float(params["window_hours"]) * 3600)
    life = cart_lives(events, run_date, params, start)
    facts = cart_facts(life)
    first_order = (
        orders.where(F.col("cart_id").isNotNull())
        .join(facts.select("cart_id", "created", "as_of"), "cart_id")
        .where((F.col("created_at") >= F.col("created")) & (F.col("created_at") < F.col("as_of")))
        .groupBy("cart_id")
        .agg(
            F.min("created_at").alias("ordered_at"),
            F.min_by("order_id", F.struct("created_at", "order_id")).alias("order_id"),
        )
    )
    window_end = F.col("last_activity") + F.expr(f"INTERVAL {window_s} SECONDS")
    emptied = (F.col("_last_event") == "remove_from_cart") & (
        (F.coalesce("_last_value", F.lit(1)) == 0) | (F.col("_net_units") <= 0)
    )
    outcome = (
        F.when(F.col("ordered_at") <= window_end, "converted")
        .when(emptied, "emptied")
        .when(F.col("ordered_at").isNotNull(), "recovered")
        # Open while the window has not closed by the end of the cart's data (its as_of).
        .when(window_end > F.col("as_of"), "open")
        .otherwise("abandoned")
    )
    stage = F.element_at(F.array(*[F.lit(s) for s in STAGES]), F.coalesce("_stage", F.lit(1)))
    channels = sessions.select("session_id", "channel")
    carts = (
        facts.join(first_order, "cart_id", "left")
        .join(price_changes(life), "cart_id", "left")
        .join(page_evidence(facts, life, events, params), "cart_id", "left")
        .join(channels, "session_id", "left")
        .withColumn("outcome", outcome)
        .withColumn("stage_reached", stage)
        .withColumn("cart_value", F.coalesce("_last_value", F.greatest("_net_value", F.lit(0))))
        .withColumn("items", F.coalesce("_last_items", F.greatest("_net_units", F.lit(0))))
        .withColumn("abandoned_at", F.when(F.col("outcome").isin("abandoned", "recovered"), window_end))
        .fillna(0, ["slow_page_loads", "page_errors", "alternatives_viewed"])
        .withColumn("channel", F.coalesce("channel", F.lit("unknown")))
    )
    return with_reasons(carts, params)


def reasons_daily(carts: DataFrame) -> DataFrame:
    """gold.abandonment_reasons_daily: left carts by creation date, primary reason, stage, channel, device."""
    left = carts.where(F.col("outcome").isin("abandoned", "recovered"))
    abandoned = F.col("outcome") == "abandoned"
    return left.groupBy(
        F.col("cart_date").alias("date"),
        F.col("primary_reason").alias("reason"),
        F.col("stage_reached").alias("stage"),
        "channel",
        "device_type",
    ).agg(
        F.count(F.when(abandoned, 1)).alias("abandoned_carts"),
        F.coalesce(F.sum(F.when(abandoned, F.col("cart_value"))), F.lit(0)).alias("value_lost"),
        F.count(F.when(~abandoned, 1)).alias("recovered_carts"),
        F.coalesce(F.sum(F.when(~abandoned, F.col("cart_value"))), F.lit(0)).alias("value_recovered"),
    )


def excluded_carts(events: DataFrame) -> DataFrame:
    """Carts to leave out, one row per cart: ``cart_id``, ``cart_date``, ``is_bot``, ``no_consent``.

    A cart with any bot event is a bot's; otherwise one with any event without consent is no-consent.
    """
    flags = (
        events.where(F.col("cart_id").isNotNull())
        .groupBy("cart_id")
        .agg(
            F.to_date(F.min("event_time")).alias("cart_date"),
            F.max(F.col("is_bot").cast("int")).alias("_bot"),
            F.max((~F.col("consent_analytics")).cast("int")).alias("_no_consent"),
        )
    )
    return flags.where((F.col("_bot") == 1) | (F.col("_no_consent") == 1)).select(
        "cart_id", "cart_date", (F.col("_bot") == 1).alias("is_bot"), (F.col("_bot") == 0).alias("no_consent")
    )


def build(
    events: DataFrame, orders: DataFrame, sessions: DataFrame, start: date, run_date: date, params: dict[str, Any]
) -> dict[str, DataFrame]:
    """Both gold tables for the carts created on ``start`` .. ``run_date``, and the excluded carts."""
    excluded = excluded_carts(events)
    kept = events.join(excluded.select("cart_id"), "cart_id", "left_anti").where(
        ~F.col("is_bot") & F.col("consent_analytics")
    )
    in_range = F.col("cart_date").between(F.lit(start), F.lit(run_date))
    carts = transform(kept, orders, sessions, run_date, params, start).where(in_range)
    return {
        "gold.cart_abandonment": conform(carts, "gold.cart_abandonment"),
        "gold.abandonment_reasons_daily": conform(reasons_daily(carts), "gold.abandonment_reasons_daily"),
        "excluded": excluded.where(in_range),
    }


INPUTS = ("silver.events", "silver.orders", "silver.sessions")


def affected_cart_dates(spark: SparkSession, plan: manifest.Plan, settings: Settings, lookback: int) -> set[date]:
    """Cart dates a run must rewrite: those whose carts' first lives reach a changed silver date,
    and those with carts still open when the run date has moved on (see the module docstring)."""
    changed = plan.dates(*INPUTS)
    dates = {d for d in around(changed, lookback, 0) if d <= plan.run_date}
    if plan.last_run_date is None or plan.run_date > plan.last_run_date:
        rows = (
            read_table(spark, "gold.cart_abandonment", settings)
            .where(F.col("outcome") == "open")
            .select("cart_date")
            .distinct()
            .collect()  # bounded: one row per date with open carts (the last lookback_days at most)
        )
        dates |= {as_date(r[0]) for r in rows if as_date(r[0]) <= plan.run_date}
    return dates


def run_abandonment(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite the cart dates the silver changes since the last run reach; return the job's metrics.

    ``since`` also rewrites every cart date from ``since`` to ``run_date`` (a backfill).
    """
    params = params_of(settings)
    lookback = int(params["lookback_days"])
    for name in (*INPUTS, *OUTPUTS):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_abandonment", run_date, INPUTS, run_id=run_id)
    dates = affected_cart_dates(spark, plan, settings, lookback)
    if since is not None:
        dates |= {since + timedelta(days=i) for i in range((run_date - since).days + 1)}
    if not dates:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows_written": {}, "noop": True}
    events = plan.read(spark, "silver.events", settings)
    orders = plan.read(spark, "silver.orders", settings)
    sessions = plan.read(spark, "silver.sessions", settings)
    carts_parts, daily_parts, excluded_parts = [], [], []
    for start, end in runs(dates):
        # Carts created on start .. end live until end + lookback at the latest (and the run date);
        # cart events a lookback further back tell carts created before start from new ones.
        last = min(end + timedelta(days=lookback), run_date)
        context = start - timedelta(days=lookback)
        span_events = events.where(
            F.col("event_date").between(F.lit(start), F.lit(last))
            | (F.col("cart_id").isNotNull() & F.col("event_date").between(F.lit(context), F.lit(last)))
        )
        span_orders = orders.where(F.col("order_date").between(F.lit(start), F.lit(last)))
        span_sessions = sessions.where(F.col("session_date").between(F.lit(start - timedelta(days=1)), F.lit(last)))
        outputs = build(span_events, span_orders, span_sessions, start, run_date, params)
        in_span = F.col("cart_date").between(F.lit(start), F.lit(end))
        carts_parts.append(outputs["gold.cart_abandonment"].where(in_span))
        daily_parts.append(
            outputs["gold.abandonment_reasons_daily"].where(F.col("date").between(F.lit(start), F.lit(end)))
        )
        excluded_parts.append(outputs["excluded"].where(in_span))
    carts = _union(carts_parts).persist()
    replace_partitions(carts, "gold.cart_abandonment", dates, settings)
    replace_partitions(_union(daily_parts), "gold.abandonment_reasons_daily", dates, settings)
    # Bounded: a handful of outcome × stage counts and two exclusion counts.
    written = read_table(spark, "gold.cart_abandonment", settings).where(in_dates("cart_date", dates))
    outcomes = written.groupBy("outcome").agg(F.count("*").alias("n"))
    by_outcome = {r["outcome"]: r["n"] for r in outcomes.collect()}  # bounded: one row per outcome
    by_stage = {
        r["stage_reached"]: r["n"]
        for r in written.where(F.col("outcome") == "abandoned")
        .groupBy("stage_reached")
        .agg(F.count("*").alias("n"))
        .collect()  # bounded: one row per stage
    }
    by_reason = {
        r["primary_reason"]: r["n"]
        for r in written.where(F.col("outcome") == "abandoned")
        .groupBy("primary_reason")
        .agg(F.count("*").alias("n"))
        .collect()  # bounded: one row per reason
    }
    ex = (
        _union(excluded_parts)
        .agg(
            F.count(F.when(F.col("is_bot"), 1)).alias("bot"),
            F.count(F.when(F.col("no_consent"), 1)).alias("no_consent"),
        )
        .first()
    )
    daily_rows = read_table(spark, "gold.abandonment_reasons_daily", settings).where(in_dates("date", dates)).count()
    carts.unpersist()
    manifest.record(
        spark,
        settings,
        plan,
        {name: dates for name in OUTPUTS},
        rows={"gold.cart_abandonment": sum(by_outcome.values()), "gold.abandonment_reasons_daily": daily_rows},
    )
    return {
        "run_date": str(run_date),
        "dates": describe(dates),
        "rows_written": {
            "gold.cart_abandonment": sum(by_outcome.values()),
            "gold.abandonment_reasons_daily": daily_rows,
        },
        "carts_by_outcome": by_outcome,
        "abandoned_by_stage": by_stage,
        "abandoned_by_primary_reason": by_reason,
        "carts_excluded_bot": int(ex["bot"]) if ex else 0,
        "carts_excluded_no_consent": int(ex["no_consent"]) if ex else 0,
    }


def _union(parts: list[DataFrame]) -> DataFrame:
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


OUTPUTS = ("gold.cart_abandonment", "gold.abandonment_reasons_daily")
