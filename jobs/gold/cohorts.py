"""gold.cohort_retention_weekly: acquisition cohorts followed week by week.

Rules (conf ``gold.cohorts``, docs/customers.md). Weeks start on Monday, by UTC date.

* Customers are accounts (``user_id``). A *visit* is a consenting human session of silver.sessions
  with the account (stitched: a device's sessions count for its account); an *order* is a
  silver.orders row with a buyer, counted as placed (gold.session_facts' rule: later
  cancellations and refunds stay in silver.orders; revenue is the total as placed).
* Cohorts: ``first_visit`` — the week of the account's first visit ever; ``first_purchase`` — the
  week of its first order ever. Both need the account's whole history, so the first dates are
  read from all of silver (two columns per table).
* A row per activity week W and cohort week C <= W: cohort size, the cohort's customers with a
  visit in W (active) and with an order in W (buying), their orders and revenue in W, and those
  divided by the cohort size.

The daily job for D rewrites the activity weeks from week(D - lookback_days) to week(D); the
current week's rows grow until it ends. A row of week W only depends on data up to W's end, so N
daily runs equal one rebuild.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import describe
from jobs.common.tables import conform, ensure_table, read_table, replace_dates

TABLE = "gold.cohort_retention_weekly"


def week(day: Column) -> Column:
    """Monday of the week of a date."""
    return F.date_trunc("week", day).cast("date")


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def visits(sessions: DataFrame) -> DataFrame:
    """``user_id, day`` of consenting sessions with an account (silver.sessions rows)."""
    return sessions.where(F.col("consent_analytics") & F.col("user_id").isNotNull()).select(
        "user_id", F.col("session_date").alias("day")
    )


def purchases(orders: DataFrame) -> DataFrame:
    """``user_id, day, order_id, total`` of orders with a buyer (silver.orders rows)."""
    return orders.where(F.col("user_id").isNotNull()).select(
        "user_id", F.col("order_date").alias("day"), "order_id", "total"
    )


def transform(all_visits: DataFrame, all_orders: DataFrame, first_week: date, last_week: date) -> DataFrame:
    """Rows of activity weeks ``first_week``..``last_week`` (Mondays) from :func:`visits` and :func:`purchases` (pure).

    Both inputs must reach back to each customer's first visit and order (whole history): rows of
    later weeks are ignored.
    """
    upto = F.col("day") < F.lit(last_week + timedelta(days=7))
    v, o = all_visits.where(upto), all_orders.where(upto)
    cohorts = (
        v.groupBy("user_id")
        .agg(week(F.min("day")).alias("cohort_week"))
        .withColumn("cohort_kind", F.lit("first_visit"))
    ).unionByName(
        o.groupBy("user_id")
        .agg(week(F.min("day")).alias("cohort_week"))
        .withColumn("cohort_kind", F.lit("first_purchase"))
    )
    in_range = F.col("activity_week").between(F.lit(first_week), F.lit(last_week))
    active = v.select("user_id", week(F.col("day")).alias("activity_week")).where(in_range).distinct()
    bought = (
        o.withColumn("activity_week", week(F.col("day")))
        .where(in_range)
        .groupBy("user_id", "activity_week")
        .agg(F.count("*").alias("_orders"), F.sum("total").alias("_revenue"))
    )
    weeks = (
        active.select("user_id", "activity_week")
        .unionByName(bought.select("user_id", "activity_week"))
        .distinct()
        .join(active.withColumn("_active", F.lit(1)), ["user_id", "activity_week"], "left")
        .join(bought, ["user_id", "activity_week"], "left")
    )
    sizes = cohorts.groupBy("cohort_kind", "cohort_week").agg(F.count("*").alias("cohort_size"))
    span = F.sequence(F.lit(first_week), F.lit(last_week), F.expr("INTERVAL 7 DAYS"))
    grid = sizes.withColumn("activity_week", F.explode(span)).where(F.col("activity_week") >= F.col("cohort_week"))
    activity = (
        weeks.join(cohorts, "user_id")
        .where(F.col("activity_week") >= F.col("cohort_week"))
        .groupBy("cohort_kind", "cohort_week", "activity_week")
        .agg(
            F.count(F.col("_active")).alias("active_users"),
            F.count(F.col("_orders")).alias("buying_users"),
            F.sum("_orders").alias("orders"),
            F.sum("_revenue").alias("revenue"),
        )
    )
    out = (
        grid.join(activity, ["cohort_kind", "cohort_week", "activity_week"], "left")
        .fillna(0, ["active_users", "buying_users", "orders", "revenue"])
        .withColumns(
            {
                "weeks_since": (F.datediff("activity_week", "cohort_week") / 7).cast("int"),
                "active_share": F.col("active_users") / F.col("cohort_size"),
                "buying_share": F.col("buying_users") / F.col("cohort_size"),
                "revenue_per_customer": F.col("revenue") / F.col("cohort_size"),
            }
        )
    )
    return conform(out, TABLE)


INPUTS = ("silver.sessions", "silver.orders")


def run_cohorts(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite the activity weeks the silver changes since the last run reach (:mod:`jobs.common.manifest`):
    from the week of the earliest changed date to the run date's week (a late first visit can move a
    person's cohort, and so every later week of it); with ``since``, from ``since``'s week."""
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_cohorts", run_date, INPUTS, run_id=run_id)
    changed = {d for d in plan.dates(*INPUTS) if d <= run_date}
    if since is not None:
        changed.add(since)
    if not changed:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    first, last = monday(min(changed)), monday(run_date)
    end = F.lit(run_date)
    sessions = plan.read(spark, "silver.sessions", settings).where(F.col("session_date") <= end)
    orders = plan.read(spark, "silver.orders", settings).where(F.col("order_date") <= end)
    replace_dates(transform(visits(sessions), purchases(orders), first, last), TABLE, first, last, settings)
    weeks = {first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)}
    rows = read_table(spark, TABLE, settings).where(F.col("activity_week").between(F.lit(first), F.lit(last))).count()
    manifest.record(spark, settings, plan, {TABLE: weeks}, rows={TABLE: rows})
    return {"run_date": str(run_date), "dates": describe(weeks), "rows": {TABLE: rows}}
