"""gold.discount_integrity: was a sale day's "discount" a real one?

Rules (conf ``gold.discounts``, docs/tables.md), per sale day D of the calendar (local date in the
shop's time zone, ``gold.browsing.shop_timezone``) and product shown on a product page that day
(``silver.events`` ``product_view`` rows with a price, bots included: a scraper sees the same page):

* **Prices of the day.** ``sale_price`` is the lowest price shown on D; ``list_price`` the highest
  list (crossed-out) price shown on D, or the price when the page shows none. The product is
  ``discounted`` when the list price is above the sale price.
* **History.** ``low_price_30d`` is the lowest price shown in the ``history_days`` (30) local days
  before D; ``list_low_14d`` the lowest list price (or price, without one) in the ``list_days`` (14)
  days before D.
* **Flags** of a discounted product: ``not_below_30d_low`` when the sale price is not below the
  30-day low (the cut only undoes an earlier rise, or the "was" price was never charged);
  ``list_price_raised`` when the list price is above the 14-day low list price by more than
  ``list_rise_tolerance`` (the reference price was inflated just before the sale).
* **Verdict:** ``no_discount`` (not discounted), ``no_history`` (discounted, never shown in the 30
  days before: nothing to judge it by), ``misleading`` (a flag) or ``genuine``.

The sale days come from the shop's calendar (jobs/common/calendar.py: the double dates plus the
shop's own ``calendar.sale_days``). A run rewrites every sale day whose 30-day window touches a
silver date that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.calendar import resolve as resolve_calendar
from jobs.common.calendar import years_between
from jobs.common.config import Settings
from jobs.common.dates import describe
from jobs.common.tables import conform, ensure_table, read_table, replace_partitions

TABLE = "gold.discount_integrity"
INPUTS = ("silver.events",)
VERDICTS = ("misleading", "genuine", "no_history", "no_discount")


def sale_days(calendar: Mapping[str, Any], first: date, last: date) -> dict[date, str]:
    """The calendar's sale days in [first, last] (local dates) and their names."""
    resolved = resolve_calendar(calendar, years_between(first, last))
    days = {date.fromisoformat(str(s["date"])): str(s.get("name") or s["date"]) for s in resolved["sale_days"]}
    return {d: n for d, n in sorted(days.items()) if first <= d <= last}


def affected(changed: Iterable[date], calendar: Mapping[str, Any], params: Mapping[str, Any]) -> dict[date, str]:
    """Sale days whose window (``history_days`` before, the day itself, a day of time-zone slack on
    each side) holds a changed UTC date of silver."""
    changed = sorted(set(changed))
    if not changed:
        return {}
    reach = int(params["history_days"]) + 1
    days = sale_days(calendar, changed[0] - timedelta(days=1), changed[-1] + timedelta(days=reach))
    return {
        d: n for d, n in days.items() if any(d - timedelta(days=reach) <= c <= d + timedelta(days=1) for c in changed)
    }


def transform(events: DataFrame, days: Mapping[date, str], params: Mapping[str, Any], timezone: str) -> DataFrame:
    """gold.discount_integrity rows for the sale days ``days`` (local date -> name) from silver.events
    rows that cover their windows (pure)."""
    spark = events.sparkSession
    history, list_days = int(params["history_days"]), int(params["list_days"])
    sales = spark.createDataFrame([(d, n) for d, n in sorted(days.items())], "sale_date date, sale_name string").hint(
        "broadcast"
    )
    shown = (
        events.where((F.col("event_type") == "product_view") & F.col("product_id").isNotNull() & (F.col("price") > 0))
        .withColumn("shop_date", F.to_date(F.from_utc_timestamp("event_time", timezone)))
        .withColumn("listed", F.greatest(F.coalesce("list_price", "price"), F.col("price")))
    )
    daily = shown.groupBy("product_id", "shop_date").agg(
        F.min("price").alias("low"),
        F.max("listed").alias("list_high"),
        F.min("listed").alias("list_low"),
        F.count("*").alias("views"),
        F.max_by("category", "event_time").alias("category"),
        F.max_by("brand", "event_time").alias("brand"),
    )
    on_day = daily.join(sales, daily.shop_date == sales.sale_date).select(
        "sale_date", "sale_name", "product_id", "category", "brand", F.col("low").alias("sale_price"),
        F.col("list_high").alias("list_price"), "views",
    )  # fmt: skip
    gap = F.datediff(sales.sale_date, daily.shop_date)
    before = (
        daily.join(sales, (gap >= 1) & (gap <= history))
        .groupBy("sale_date", "product_id")
        .agg(
            F.min("low").alias("low_price_30d"),
            F.count("*").alias("history_days"),
            F.min(F.when(gap <= list_days, F.col("list_low"))).alias("list_low_14d"),
        )
    )
    tolerance = float(params["list_rise_tolerance"])
    rows = on_day.join(before, ["sale_date", "product_id"], "left")
    discounted = F.col("list_price") > F.col("sale_price")
    flags = F.filter(
        F.array(
            F.when(discounted & (F.col("sale_price") >= F.col("low_price_30d")), F.lit("not_below_30d_low")),
            F.when(
                discounted & (F.col("list_price") > F.col("list_low_14d") * (1 + tolerance)), F.lit("list_price_raised")
            ),
        ),
        lambda r: r.isNotNull(),
    )
    verdict = (
        F.when(~discounted, F.lit("no_discount"))
        .when(F.col("low_price_30d").isNull(), F.lit("no_history"))
        .when(F.size("reasons") > 0, F.lit("misleading"))
        .otherwise(F.lit("genuine"))
    )
    out = (
        rows.withColumns(
            {
                "discounted": discounted,
                "discount_share": F.round(F.lit(1.0) - F.col("sale_price") / F.col("list_price"), 6),
                "history_days": F.coalesce("history_days", F.lit(0)).cast("long"),
                "reasons": flags,
            }
        )
        .withColumn("verdict", verdict)
        .withColumn("flagged", F.col("verdict") == "misleading")
    )
    return conform(out, TABLE)


def run_discounts(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite the sale days whose window holds a silver date that changed since the last run (with
    ``since``: also every date from it to ``run_date``)."""
    params = settings["gold"]["discounts"]
    timezone = str(settings["gold"]["browsing"]["shop_timezone"])
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_discounts", run_date, INPUTS, run_id=run_id)
    changed = {d for d in plan.dates(*INPUTS) if d <= run_date}
    if since is not None:
        changed |= {since + timedelta(days=i) for i in range((run_date - since).days + 1)}
    days = {
        d: n for d, n in affected(changed, settings["calendar"], params).items() if d <= run_date + timedelta(days=1)
    }
    rows: dict[str, int] = {}
    if days:
        first = min(days) - timedelta(days=int(params["history_days"]) + 1)
        last = max(days) + timedelta(days=1)
        events = read_table(spark, "silver.events", settings).where(F.col("event_date").between(first, last))
        replace_partitions(transform(events, days, params, timezone), TABLE, sorted(days), settings)
        rows[TABLE] = read_table(spark, TABLE, settings).where(F.col("sale_date").isin(*sorted(days))).count()
    if days or plan.has_news():
        manifest.record(spark, settings, plan, {TABLE: set(days)} if days else {}, rows=rows)
    return {"run_date": str(run_date), "dates": describe(set(days)) if days else "none", "rows": rows}
