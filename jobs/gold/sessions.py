"""gold.session_facts: one row per consenting human session, with engagement, funnel reach and orders.

Orders come from the shop's order system, not the clickstream, so they are tied to a visit by rule:
an order belongs to the session of the same device (``anonymous_id``) during which it was placed,
or within ``silver.sessions.timeout_minutes`` after the session's last event; when two sessions
qualify, the later one. Revenue is the order's total as placed: later cancellations and refunds do
not move a past day's revenue (they live in silver.orders).

Tenure is the device's, over its whole history: whole days from its first session
(``days_since_first_seen``) and from its first order placed before the session
(``days_since_first_purchase``) to the session's start; ``tenure`` is ``loyal`` when that first order
is at least ``gold.browsing.tenure.loyal_min_days_since_first_purchase`` days old, else ``new`` when
the first session is at most ``new_max_days_since_first_seen`` days old, else ``returning``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform
from jobs.silver.sessions import PAGE_VIEW_EVENTS

TABLE = "gold.session_facts"
#: The synthetic event type of an order placed during a session (usable in funnel steps).
ORDER_EVENT = "order_created"
NO_CATEGORY = "(none)"
_PRODUCT_EVENTS = ("product_view", "add_to_cart")


def behaviour_scope(events: DataFrame, sessions: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The events and sessions behaviour tables are built from: humans with analytics consent.

    ``events`` are silver.events rows, ``sessions`` silver.sessions rows. Bot events have no
    session; a session without consent takes all its events out with it.
    """
    consenting = sessions.where(F.col("consent_analytics"))
    scoped = events.where(F.col("session_id").isNotNull() & ~F.col("is_bot")).join(
        consenting.select("session_id"), "session_id", "left_semi"
    )
    return scoped, consenting


def session_orders(sessions: DataFrame, orders: DataFrame, timeout_minutes: float) -> DataFrame:
    """``session_id, order_id, cart_id, created_at, total``: each order with the session it belongs to.

    Orders without a device, or placed outside any session's reach, belong to none and are left out.
    """
    grace_us = round(float(timeout_minutes) * 60 * 1_000_000)
    s = sessions.select("session_id", F.col("anonymous_id").alias("_device"), "session_start", "session_end").alias("s")
    o = orders.where(F.col("anonymous_id").isNotNull()).select(
        "order_id", "cart_id", "anonymous_id", "created_at", "total"
    )
    created = F.unix_micros(F.col("created_at"))
    matched = o.join(
        s,
        (F.col("anonymous_id") == F.col("_device"))
        & (F.col("created_at") >= F.col("session_start"))
        & (created <= F.unix_micros(F.col("session_end")) + F.lit(grace_us)),
    )
    latest = Window.partitionBy("order_id").orderBy(F.col("session_start").desc(), F.col("session_id"))
    return (
        matched.withColumn("_n", F.row_number().over(latest))
        .where(F.col("_n") == 1)
        .select("session_id", "order_id", "cart_id", "created_at", "total")
    )


_DAY_US = 86_400 * 1_000_000


def tenure_days(session_start: Column, first_session_start: Column, first_order_at: Column) -> tuple[Column, Column]:
    """``days_since_first_seen`` and ``days_since_first_purchase`` (null without an earlier order):
    whole days from the device's first session, and from its first order, to ``session_start``."""
    start = F.unix_micros(session_start)
    seen = F.greatest(
        F.lit(0), F.floor((start - F.unix_micros(F.coalesce(first_session_start, session_start))) / _DAY_US)
    )
    bought = F.when(first_order_at < session_start, F.floor((start - F.unix_micros(first_order_at)) / _DAY_US))
    return seen.cast("int"), bought.cast("int")


def tenure_of(days_since_first_seen: Column, days_since_first_purchase: Column, params: Mapping[str, Any]) -> Column:
    """new, returning or loyal by the thresholds of ``gold.browsing.tenure`` (module docstring)."""
    rules = params["tenure"]
    return (
        F.when(days_since_first_purchase >= int(rules["loyal_min_days_since_first_purchase"]), F.lit("loyal"))
        .when(days_since_first_seen <= int(rules["new_max_days_since_first_seen"]), F.lit("new"))
        .otherwise(F.lit("returning"))
    )


def _first_where(condition: Column, col: str) -> Column:
    return F.min(F.when(condition, F.struct("event_time", "event_id", F.col(col).alias("v"))))["v"]


def transform(
    sessions: DataFrame,
    events: DataFrame,
    orders_of_sessions: DataFrame,
    first_seen: DataFrame,
    first_orders: DataFrame,
    params: Mapping[str, Any],
) -> DataFrame:
    """gold.session_facts from scoped silver.sessions and events (:func:`behaviour_scope`).

    ``orders_of_sessions`` is :func:`session_orders`' output; ``first_seen`` has one row per
    ``anonymous_id`` with ``first_session_start``, and ``first_orders`` one with ``first_order_at``
    (:func:`first_purchase`), over the device's whole history; ``params`` is ``gold.browsing`` of
    the configuration.
    """
    in_session = Window.partitionBy("session_id").orderBy("event_time", "event_id")
    page_open = F.col("event_type").isin(*PAGE_VIEW_EVENTS)
    # page_ping carries the engaged time so far on its page: the page's engagement is its last ping.
    pages = events.withColumn("_page", F.sum(page_open.cast("int")).over(in_session))
    engaged = (
        pages.groupBy("session_id", "_page")
        .agg(F.max("engaged_ms").alias("_ms"))
        .groupBy("session_id")
        .agg(F.sum(F.coalesce(F.col("_ms"), F.lit(0))).alias("_engaged_ms"))
    )
    kinds = events.groupBy("session_id").agg(
        F.bool_or(F.col("event_type").isin("add_to_cart", "cart_view")).alias("reached_cart"),
        F.bool_or(F.col("event_type") == "begin_checkout").alias("reached_checkout"),
        F.bool_or(F.col("event_type") == "add_shipping_info").alias("reached_shipping"),
        F.bool_or(F.col("event_type") == "add_payment_info").alias("reached_payment"),
        _first_where(F.col("event_type").isin(*_PRODUCT_EVENTS) & F.col("top_category").isNotNull(), "top_category")
        .alias("top_category"),
    )  # fmt: skip
    bought = orders_of_sessions.groupBy("session_id").agg(F.count("*").alias("orders"), F.sum("total").alias("revenue"))
    bounce_ms = float(params["bounce_max_seconds"]) * 1000
    out = (
        sessions.join(engaged, "session_id", "left")
        .join(kinds, "session_id", "left")
        .join(bought, "session_id", "left")
        .join(first_seen, "anonymous_id", "left")
        .join(first_orders, "anonymous_id", "left")
        .fillna(0, ["orders", "revenue", "_engaged_ms"])
        .fillna(False, ["reached_cart", "reached_checkout", "reached_shipping", "reached_payment"])
        .withColumns(
            {
                "engaged_seconds": F.floor(F.col("_engaged_ms") / 1000),
                "purchased": F.col("orders") > 0,
                "top_category": F.coalesce(F.col("top_category"), F.lit(NO_CATEGORY)),
                "visitor_type": F.when(
                    F.col("first_session_start").isNull() | (F.col("first_session_start") >= F.col("session_start")),
                    F.lit("new"),
                ).otherwise(F.lit("returning")),
            }
        )
    )
    days_seen, days_bought = tenure_days(F.col("session_start"), F.col("first_session_start"), F.col("first_order_at"))
    out = out.withColumns({"days_since_first_seen": days_seen, "days_since_first_purchase": days_bought})
    out = out.withColumn(
        "tenure", tenure_of(F.col("days_since_first_seen"), F.col("days_since_first_purchase"), params)
    )
    duration_ms = F.unix_millis(F.col("session_end")) - F.unix_millis(F.col("session_start"))
    out = out.withColumn(
        "is_bounce", (F.col("page_views") <= 1) & (duration_ms < F.lit(bounce_ms)) & ~F.col("purchased")
    )
    return conform(out, TABLE)


def first_seen(all_sessions: DataFrame) -> DataFrame:
    """``anonymous_id, first_session_start`` over every silver.sessions row given."""
    return all_sessions.groupBy("anonymous_id").agg(F.min("session_start").alias("first_session_start"))


def first_purchase(all_orders: DataFrame) -> DataFrame:
    """``anonymous_id, first_order_at`` over every silver.orders row given that has a device."""
    return (
        all_orders.where(F.col("anonymous_id").isNotNull())
        .groupBy("anonymous_id")
        .agg(F.min("created_at").alias("first_order_at"))
    )
