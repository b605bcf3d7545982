"""Gold time-of-purchase profile: when, in their own local time, each customer buys.

Grain: one row per user × ``as_of_date``. A row describes the user's purchases *before*
``as_of_date`` 00:00 UTC (the data of days < as_of_date), within ``gold.purchase_time.history_days``;
the daily job for logical date D writes ``as_of_date = D + 1``, so the row is valid from the start
of the day after the data it was built from (the same convention as ``features.user_daily``).

Rules (see docs/purchase-time-and-features.md):

* A *purchase* is an order of ``silver.orders`` with a buyer (``user_id``) created before the
  as-of instant and not cancelled before it. Order state is read point in time from the order's
  milestones (``created_at``, ``cancelled_at``), never from its current ``status``, so a
  cancellation after the as-of instant does not change a row already written.
* Everything is in the buyer's local time, from ``created_at`` and the order's IANA ``timezone``
  (WIB Asia/Jakarta, WITA Asia/Makassar, WIT Asia/Jayapura): the same UTC instant is a different
  local hour for a WIB and a WIT buyer.
* Hour-of-day profile: 24 hourly counts plus four six-hour buckets (night 0-5, morning 6-11,
  afternoon 12-17, evening 18-23). Preferred hour: the circular mean of the local times of day
  (angle = 2π·t/24; atan2 of the summed sines and cosines), so 23:00 and 01:00 average to
  midnight, not noon; ``hour_concentration`` is the mean resultant length (1 = always the same
  time, 0 = no preferred time, when the preferred hour is null).
* Shares of purchases on weekends (Saturday, Sunday), on paydays (``calendar.payday_days``, day of
  the month), on sale days and in Ramadan (:mod:`jobs.common.calendar`: double dates, the days
  before Eid al-Fitr, and the shop's own), by local
  date.
* Days since the last purchase (fractional, from its UTC instant to the as-of instant); mean and
  standard deviation (sample) of the gaps in days between consecutive distinct local purchase dates.
* Lead time: per purchase, hours from the buyer's first ``product_view`` of any product of the
  order (within ``lead_time_max_days`` before it, bots excluded) to the order; the median over the
  user's purchases with a known lead time.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import calendar, manifest
from jobs.common.config import Settings
from jobs.common.dates import day_range, describe
from jobs.common.tables import conform, ensure_table, read_table, replace_dates

TABLE = "gold.purchase_time_profile"
#: Four six-hour buckets of the local hour; their names become column names.
HOUR_BUCKETS: dict[str, tuple[int, int]] = {
    "night": (0, 6),
    "morning": (6, 12),
    "afternoon": (12, 18),
    "evening": (18, 24),
}
#: Below this mean resultant length the purchase times cancel out: no preferred hour.
MIN_CONCENTRATION = 1e-9


def as_of_instant(as_of_date: Column) -> Column:
    """The instant an ``as_of_date`` row becomes valid: that date at 00:00 UTC (session zone is UTC)."""
    return F.to_timestamp(as_of_date)


def days_between(start: Column, end: Column) -> Column:
    """Fractional days from timestamp ``start`` to timestamp ``end``."""
    return (F.unix_micros(end) - F.unix_micros(start)) / 8.64e10


def as_of_frame(spark: SparkSession, dates: list[date]) -> DataFrame:
    """A one-column frame of as-of dates (a handful of rows: cross-joined with aggregates)."""
    return spark.createDataFrame([(d,) for d in dates], "as_of_date date")


def purchases(orders: DataFrame) -> DataFrame:
    """Order rows reduced to what the profile needs, with the buyer's local time.

    Keeps orders with a buyer; each as-of date then keeps the ones created and not cancelled before it.
    """
    local = F.from_utc_timestamp(F.col("created_at"), F.col("timezone"))
    return orders.where(F.col("user_id").isNotNull()).select(
        "order_id",
        "user_id",
        "created_at",
        "cancelled_at",
        "paid_at",
        "refunded_at",
        "total",
        F.to_date(local).alias("local_date"),
        F.hour(local).alias("local_hour"),
        (F.hour(local) + F.minute(local) / 60.0 + F.second(local) / 3600.0).alias("local_time_of_day"),
        # ISO day of week, 1 = Monday ... 7 = Sunday.
        ((F.dayofweek(local) + 5) % 7 + 1).alias("local_day_of_week"),
        F.dayofmonth(local).alias("local_day_of_month"),
    )


def lead_times(orders: DataFrame, items: DataFrame, views: DataFrame, max_days: int) -> DataFrame:
    """``(order_id, lead_time_hours)``: from the buyer's first view of an ordered product to the order.

    ``views`` are human ``product_view`` events (user_id, product_id, event_time). Only views before
    the order and at most ``max_days`` earlier count; orders without such a view are left out.
    """
    lines = (
        orders.where(F.col("user_id").isNotNull())
        .select("order_id", "user_id", "created_at")
        .join(items.select("order_id", "product_id").distinct(), "order_id")
    )
    joined = lines.join(views.select("user_id", "product_id", "event_time"), ["user_id", "product_id"]).where(
        (F.col("event_time") <= F.col("created_at"))
        & (F.col("event_time") >= F.col("created_at") - F.make_dt_interval(F.lit(max_days)))
    )
    return joined.groupBy("order_id").agg(
        ((F.unix_micros(F.first("created_at")) - F.unix_micros(F.min("event_time"))) / 3.6e9).alias("lead_time_hours")
    )


def _calendar(params: dict[str, Any]) -> tuple[list[int], list[date], list[tuple[date, date]]]:
    cal = params["calendar"]
    paydays = [int(d) for d in cal.get("payday_days", [])]
    sale_days = [date.fromisoformat(str(s["date"])) for s in cal.get("sale_days", [])]
    ramadan = [(date.fromisoformat(str(r["start"])), date.fromisoformat(str(r["end"]))) for r in cal.get("ramadan", [])]
    return paydays, sale_days, ramadan


def _share(condition: Column) -> Column:
    return F.avg(F.when(condition, 1.0).otherwise(0.0))


def transform(
    orders: DataFrame,
    lead: DataFrame,
    as_of: DataFrame,
    params: dict[str, Any],
) -> DataFrame:
    """``gold.purchase_time_profile`` rows for every as-of date of ``as_of`` (pure).

    ``orders``: silver.orders rows; ``lead``: :func:`lead_times` output; ``as_of``: one column
    ``as_of_date``. ``params`` holds ``history_days`` and ``calendar`` (payday_days, sale_days,
    ramadan).
    """
    history = int(params["history_days"])
    paydays, sale_days, ramadan = _calendar(params)
    instant = as_of_instant(F.col("as_of_date"))
    bought = (
        purchases(orders)
        .join(lead, "order_id", "left")
        .join(F.broadcast(as_of), how="cross")
        .where(
            (F.col("created_at") < instant)
            & (F.col("created_at") >= F.to_timestamp(F.date_sub("as_of_date", history)))
            & (F.col("cancelled_at").isNull() | (F.col("cancelled_at") >= instant))
        )
    )
    angle = F.col("local_time_of_day") * (2 * math.pi / 24)
    in_ramadan = F.lit(False)
    for start, end in ramadan:
        in_ramadan = in_ramadan | F.col("local_date").between(F.lit(start), F.lit(end))
    hour_counts = [F.count(F.when(F.col("local_hour") == h, 1)) for h in range(24)]
    dow_counts = [F.count(F.when(F.col("local_day_of_week") == d, 1)) for d in range(1, 8)]
    agg = bought.groupBy("user_id", "as_of_date").agg(
        F.count("*").alias("purchases"),
        F.array(*hour_counts).alias("purchases_by_hour"),
        F.array(*dow_counts).alias("purchases_by_day_of_week"),
        *[
            F.count(F.when((F.col("local_hour") >= lo) & (F.col("local_hour") < hi), 1)).alias(f"purchases_{name}")
            for name, (lo, hi) in HOUR_BUCKETS.items()
        ],
        F.sum(F.sin(angle)).alias("_sin"),
        F.sum(F.cos(angle)).alias("_cos"),
        _share(F.col("local_day_of_week") >= 6).alias("weekend_share"),
        _share(F.col("local_day_of_month").isin(paydays) if paydays else F.lit(False)).alias("payday_share"),
        _share(F.col("local_date").isin(sale_days) if sale_days else F.lit(False)).alias("sale_day_share"),
        _share(in_ramadan).alias("ramadan_share"),
        F.min("created_at").alias("first_purchase_at"),
        F.max("created_at").alias("last_purchase_at"),
        F.median("lead_time_hours").alias("median_lead_time_hours"),
        F.array_sort(F.collect_set("local_date")).alias("_dates"),
    )
    resultant = F.sqrt(F.col("_sin") ** 2 + F.col("_cos") ** 2) / F.col("purchases")
    # Rounded before the modulo so that a mean a hair before midnight (e.g. 23:00 and 01:00, whose
    # sines cancel up to rounding error) reads 0.0, not 23.999999.
    preferred = F.pmod(F.round(F.degrees(F.atan2(F.col("_sin"), F.col("_cos"))) / 15.0, 6), F.lit(24.0))
    # Gaps between consecutive distinct purchase dates: date i+1 - date i for i < n - 1.
    gaps = F.transform(
        F.slice(F.col("_dates"), 2, F.greatest(F.size("_dates") - 1, F.lit(1))),
        lambda d, i: F.datediff(d, F.element_at(F.col("_dates"), i + 1)).cast("double"),
    )
    gaps = F.when(F.size("_dates") >= 2, gaps).otherwise(F.array().cast("array<double>"))
    n_gaps = F.size("_gaps")
    mean_gap = F.aggregate("_gaps", F.lit(0.0), lambda acc, x: acc + x) / n_gaps
    var_gap = F.aggregate("_gaps", F.lit(0.0), lambda acc, x: acc + (x - F.col("_mean_gap")) ** 2) / (n_gaps - 1)
    return conform(
        agg.withColumn("_gaps", gaps)
        .withColumn("_mean_gap", F.when(n_gaps >= 1, mean_gap))
        .withColumns(
            {
                "hour_concentration": resultant,
                "preferred_hour": F.when(resultant > MIN_CONCENTRATION, preferred),
                "distinct_purchase_days": F.size("_dates"),
                "days_since_last_purchase": days_between(F.col("last_purchase_at"), instant),
                "mean_days_between_purchases": F.col("_mean_gap"),
                "stddev_days_between_purchases": F.when(n_gaps >= 2, F.sqrt(var_gap)),
            }
        ),
        TABLE,
    )


# ---------------------------------------------------------------------------------------------
# I/O


def profile_params(settings: Settings, first: date, last: date) -> dict[str, Any]:
    """The job's parameters: its conf section plus the shared calendar's dates from ``first`` to ``last``."""
    params = settings["gold"]["purchase_time"]
    return {**params, "calendar": calendar.resolve(settings["calendar"], calendar.years_between(first, last))}


def build_profiles(spark: SparkSession, dates: list[date], settings: Settings) -> DataFrame:
    """Profiles for ``dates`` (as-of dates) from silver.orders, silver.order_items and silver.events."""
    history = int(settings["gold"]["purchase_time"]["history_days"])
    params = profile_params(settings, min(dates) - timedelta(days=history), max(dates))
    for name in ("silver.orders", "silver.order_items", "silver.events"):
        ensure_table(spark, name, settings)
    first = min(dates) - timedelta(days=int(params["history_days"]))
    last = max(dates)
    hi = datetime.combine(last, time.min)
    orders = read_table(spark, "silver.orders", settings).where(
        F.col("order_date").between(F.lit(first), F.lit(last)) & (F.col("created_at") < F.lit(hi))
    )
    items = read_table(spark, "silver.order_items", settings).where(
        F.col("order_date").between(F.lit(first), F.lit(last))
    )
    max_days = int(params["lead_time_max_days"])
    views = (
        read_table(spark, "silver.events", settings)
        .where(F.col("event_date").between(F.lit(first - timedelta(days=max_days)), F.lit(last - timedelta(days=1))))
        .where((F.col("event_type") == "product_view") & ~F.col("is_bot") & F.col("user_id").isNotNull())
    )
    lead = lead_times(orders, items, views, max_days)
    return transform(orders, lead, as_of_frame(spark, dates), params)


INPUTS = ("silver.orders", "silver.order_items", "silver.events")


def build_purchase_time(spark: SparkSession, first: date, last: date, settings: Settings) -> dict[str, Any]:
    """Write gold.purchase_time_profile for as-of dates ``first``..``last`` (one transaction)."""
    dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    replace_dates(build_profiles(spark, dates, settings), TABLE, first, last, settings)
    in_range = F.col("as_of_date").between(F.lit(first), F.lit(last))
    return {
        "as_of_dates": [str(first), str(last)],
        "rows": {TABLE: read_table(spark, TABLE, settings).where(in_range).count()},
    }


def run_purchase_time(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Write the profile rows of every as-of date the silver changes since the last run reach (and
    ``since`` + 1 .. ``run_date`` + 1 when given): as_of_date A holds purchases before A."""
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_purchase_time", run_date, INPUTS, run_id=run_id)
    dates = plan.as_of_dates(plan.dates(*INPUTS))
    if since is not None:
        dates |= {since + timedelta(days=1 + i) for i in range((run_date - since).days + 1)}
    if not dates:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    first, last = min(dates), max(dates)
    built = build_purchase_time(spark, first, last, settings)
    written = set(day_range(first, last))
    manifest.record(spark, settings, plan, {TABLE: written}, rows=built["rows"])
    return {"run_date": str(run_date), "dates": describe(written), **built}
