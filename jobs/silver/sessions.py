"""Sessions: human events cut into visits per device, and one row per visit (``silver.sessions``).

Rules (conf ``silver.sessions``):

* Per anonymous_id, events are ordered by (event_time, event_id); a new session starts at the
  device's first event and after every gap longer than ``timeout_minutes`` (a gap of exactly the
  timeout stays in the session). event_time is the clock-skew-corrected time.
* No split at midnight, UTC or local: a visit from 23:50 to 00:20 is one session.
* With ``split_on_campaign_change``, an event carrying a utm_campaign also starts a new session
  when the latest campaign seen earlier in the session differs from it or the session had none
  yet (Google Analytics' rule). A repeated tag of the same campaign does not split.
* ``session_id`` is the hex SHA-256 of ``anonymous_id || "|" || event_id`` of the session's first
  event: the same events always give the same ids, whichever run or partitioning produced them.

Incremental runs: a session belongs to the UTC date of its first event (``session_date``). The
daily job for D sessionizes the events of its window D - lookback .. D *plus a context day before
it*, and keeps only the sessions whose session_date lies in the window. A session that began before
the window therefore comes out of this run with its real first event (in the context), so with its
real id and date, and is dropped rather than written as a headless fragment; it was written whole
by the last run whose window held its start date. As every date is rewritten by the last run that
covers it, N daily runs equal one full rebuild for sessions shorter than the context plus the
lookback, with events no later than ``silver.late_days``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform

TABLE = "silver.sessions"
#: Events that open a page or an app screen; ``page_views`` counts them and the exit page is the last.
PAGE_VIEW_EVENTS = ("page_view", "product_view", "product_list_view", "search", "cart_view", "begin_checkout")


def _order() -> list[Column]:
    return [F.col("event_time"), F.col("event_id")]


def sessionize(events: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """``events`` (human events with the silver.events columns) plus ``session_id``.

    ``params`` is ``silver`` of the configuration (``params["sessions"]``). See the module
    docstring for the rules and for what the daily job must feed in and keep.
    """
    conf = params["sessions"]
    timeout_us = round(float(conf["timeout_minutes"]) * 60 * 1_000_000)
    device = Window.partitionBy("anonymous_id").orderBy(*_order())
    running = device.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    micros = F.unix_micros(F.col("event_time"))
    previous = F.lag(micros).over(device)
    out = events.withColumn("_starts", (previous.isNull() | (micros - previous > timeout_us)).cast("int"))
    if bool(conf["split_on_campaign_change"]):
        out = out.withColumn("_visit", F.sum("_starts").over(running))
        earlier = (
            Window.partitionBy("anonymous_id", "_visit").orderBy(*_order()).rowsBetween(Window.unboundedPreceding, -1)
        )
        last_campaign = F.last("utm_campaign", ignorenulls=True).over(earlier)
        changed = F.col("utm_campaign").isNotNull() & (
            last_campaign.isNull() | (F.col("utm_campaign") != last_campaign)
        )
        out = out.withColumn("_starts", F.greatest(F.col("_starts"), changed.cast("int"))).drop("_visit")
    out = out.withColumn("_session", F.sum("_starts").over(running))
    in_session = Window.partitionBy("anonymous_id", "_session").orderBy(*_order())
    first_event = F.first("event_id").over(in_session)
    session_id = F.sha2(F.concat_ws("|", F.col("anonymous_id"), first_event), 256)
    return out.withColumn("session_id", session_id).drop("_starts", "_session")


def _first(*cols: str) -> Column:
    return F.min(F.struct(*_order(), *[F.col(c) for c in cols]))


def _last_where(condition: Column, *cols: str) -> Column:
    return F.max(F.when(condition, F.struct(*_order(), *[F.col(c) for c in cols])))


def _count(event_types: tuple[str, ...]) -> Column:
    return F.count(F.when(F.col("event_type").isin(*event_types), 1))


def sessions(events_with_session: DataFrame, identity: DataFrame | None) -> DataFrame:
    """One row per session (``silver.sessions``) from the output of :func:`sessionize`.

    Landing page, channel, device, region and time zone are those of the session's first event,
    ``utm_campaign`` the first campaign tagged in it, the exit page that of its last page or screen
    view (``PAGE_VIEW_EVENTS``). ``user_id`` is the account last seen in the session, else the
    device's account from ``identity`` (one row per anonymous_id with its user_id, as
    ``identity.stitch`` gives; null for none), and always null when the session lacks analytics
    consent. ``consent_analytics`` is true only when every event of the session consented.
    """
    e = events_with_session
    page = F.col("event_type").isin(*PAGE_VIEW_EVENTS)
    grouped = e.groupBy("session_id", "anonymous_id").agg(
        _first(
            "page_type",
            "page_url",
            "channel",
            "device_type",
            "os",
            "browser",
            "region",
            "timezone",
            "local_time",
            "event_date",
        ).alias("_first"),
        F.max("event_time").alias("session_end"),
        _last_where(page, "page_type").alias("_exit_page"),
        _last_where(F.lit(True), "page_type").alias("_last"),
        _last_where(F.col("user_id").isNotNull(), "user_id").alias("_user"),
        F.min(F.when(F.col("utm_campaign").isNotNull(), F.struct(*_order(), F.col("utm_campaign")))).alias("_campaign"),
        F.count(F.lit(1)).alias("events"),
        _count(PAGE_VIEW_EVENTS).alias("page_views"),
        _count(("product_view",)).alias("product_views"),
        _count(("search",)).alias("searches"),
        _count(("add_to_cart",)).alias("add_to_carts"),
        F.bool_and("consent_analytics").alias("consent_analytics"),
    )
    known_user = F.col("_user.user_id")
    if identity is not None:
        devices = identity.groupBy("anonymous_id").agg(F.min("user_id").alias("_device_user"))
        grouped = grouped.join(devices, "anonymous_id", "left")
        known_user = F.coalesce(known_user, F.col("_device_user"))
    start = F.col("_first.event_time")
    out = grouped.select(
        "session_id",
        "anonymous_id",
        F.when(F.col("consent_analytics"), known_user).alias("user_id"),
        start.alias("session_start"),
        "session_end",
        F.floor((F.unix_millis(F.col("session_end")) - F.unix_millis(start)) / 1000).alias("duration_seconds"),
        F.col("_first.event_date").alias("session_date"),
        F.col("_first.local_time").alias("local_start"),
        "events",
        "page_views",
        "product_views",
        "searches",
        "add_to_carts",
        F.col("_first.page_type").alias("landing_page_type"),
        F.col("_first.page_url").alias("landing_page_url"),
        F.coalesce(F.col("_exit_page.page_type"), F.col("_last.page_type")).alias("exit_page_type"),
        F.col("_first.channel").alias("channel"),
        F.col("_campaign.utm_campaign").alias("utm_campaign"),
        *[F.col(f"_first.{c}").alias(c) for c in ("device_type", "os", "browser", "region", "timezone")],
        "consent_analytics",
    )
    return conform(out, TABLE)
