"""gold.campaign_performance_hourly: which campaigns are working, hour by hour.

Rules (conf ``gold.campaigns``, docs/sale-days.md), over the sessions of gold.session_facts (consenting
humans; bots and sessions without consent are not there):

* **Attribution: the last non-direct campaign within 7 days, per device.** A session tagged with a
  ``utm_campaign`` belongs to that campaign. A direct session (channel ``direct``: no campaign, no
  referrer) belongs to the device's last tagged campaign when that session started at most
  ``attribution_days`` (7) before it, unless a non-direct session without a campaign (organic
  search, a referral, an untagged social link) came in between: that visit took the credit. Every
  other session belongs to no campaign: the *control*. A session's orders and revenue go with it.
* **Hours** are the shop's local hours (``gold.browsing.shop_timezone``) of the session's start.
* **Lift against non-campaign traffic in the same hours.** The campaign's conversion (sessions with
  a purchase / sessions) over the control's, minus one, as a Mantel-Haenszel risk ratio stratified
  by hour, so a campaign running at night is compared with night-time shoppers. ``conversion_lift``
  is that of the hour alone; ``day_conversion_lift`` that of the local day up to and including the
  hour (the figure to watch during a sale: it steadies as the day goes on). Each comes with an
  ``interval`` (95 %) interval by the Greenland-Robins variance of the log ratio; null when either
  side has no purchase yet.
* **Against the campaign's own baseline:** the same local hour of the ``baseline_days`` (7) days
  before: the campaign's sessions and conversion then, and the ratio of conversions with its
  interval (null when it did not run in those hours).

A run rewrites every local date whose rows a changed date of gold.session_facts can move: the date
itself, a day of time-zone slack, the ``attribution_days`` after it (their attribution may change)
and the ``baseline_days`` after those (their baseline may).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from statistics import NormalDist
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import describe
from jobs.common.tables import ensure_table, read_table, replace_partitions

TABLE = "gold.campaign_performance_hourly"
INPUTS = ("gold.session_facts",)


def affected(changed: Iterable[date], params: Mapping[str, Any]) -> set[date]:
    """Local dates whose rows a change of these UTC session dates can move: a day of time-zone slack
    before, and after it the days whose attribution it can change and the baseline days of those."""
    reach = int(params["attribution_days"]) + int(params["baseline_days"]) + 1
    return {d + timedelta(days=k) for d in changed for k in range(-1, reach + 1)}


def attribute(sessions: DataFrame, attribution_days: int) -> DataFrame:
    """``sessions`` with ``campaign``: the campaign each session is attributed to (null: none)."""
    earlier = (
        Window.partitionBy("anonymous_id")
        .orderBy("session_start", "session_id")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    direct = F.col("channel") == F.lit("direct")
    # A session's claim on later direct sessions: its campaign, or "" (none) for a non-direct
    # session without one; direct sessions make no claim.
    claim = F.when(F.col("utm_campaign").isNotNull(), F.col("utm_campaign")).when(~direct, F.lit(""))
    with_claim = sessions.withColumns({"_claim": claim, "_claim_at": F.when(claim.isNotNull(), F.col("session_start"))})
    last = F.last("_claim", ignorenulls=True).over(earlier)
    last_at = F.last("_claim_at", ignorenulls=True).over(earlier)
    window = F.make_dt_interval(F.lit(attribution_days))
    inherited = F.when(direct & (last != F.lit("")) & (F.col("session_start") <= last_at + window), last)
    return with_claim.withColumn("campaign", F.coalesce(F.col("utm_campaign"), inherited)).drop("_claim", "_claim_at")


def _ratio(r: Column, s: Column, p: Column, z: float) -> tuple[Column, Column, Column]:
    """Mantel-Haenszel risk ratio - 1 and its interval from the strata sums ΣR, ΣS and ΣP of
    :func:`_terms`: ln RR = ln(ΣR / ΣS), var = ΣP / (ΣR ΣS) (Greenland and Robins, 1985)."""
    ok = (r > 0) & (s > 0)
    rr = r / s
    se = F.sqrt(F.greatest(p, F.lit(0.0)) / (r * s))
    return F.when(ok, rr - 1), F.when(ok, rr * F.exp(-z * se) - 1), F.when(ok, rr * F.exp(z * se) - 1)


def _terms(a: Column, n1: Column, c: Column, n0: Column) -> tuple[Column, Column, Column]:
    """One stratum's R, S and P (Greenland-Robins), zero for an empty stratum."""
    n = n1 + n0
    safe = F.when(n > 0, n)
    r = F.coalesce(a * n0 / safe, F.lit(0.0))
    s = F.coalesce(c * n1 / safe, F.lit(0.0))
    p = F.coalesce((n1 * n0 * (a + c) - a * c * n) / (safe * safe), F.lit(0.0))
    return r, s, p


def transform(sessions: DataFrame, dates: set[date], params: Mapping[str, Any], timezone: str) -> DataFrame:
    """Rows of ``dates`` (local) from ``sessions`` (session facts of those dates and enough days before)."""
    z = NormalDist().inv_cdf(0.5 + float(params["interval"]) / 2)
    baseline_days = int(params["baseline_days"])
    hour_local = F.date_trunc("hour", F.from_utc_timestamp(F.col("session_start"), timezone)).cast("timestamp_ntz")
    attributed = attribute(sessions, int(params["attribution_days"])).select(
        "campaign",
        (F.col("utm_campaign").isNotNull()).alias("tagged"),
        hour_local.alias("hour_local"),
        "product_views",
        "add_to_carts",
        F.col("purchased").cast("long").alias("converted"),
        "orders",
        "revenue",
    )
    per_hour = attributed.groupBy("hour_local", "campaign").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.sum(F.col("tagged").cast("long")).alias("tagged_sessions"),
        F.sum("product_views").alias("product_views"),
        F.sum("add_to_carts").alias("add_to_carts"),
        F.sum("converted").alias("converted_sessions"),
        F.sum("orders").alias("orders"),
        F.sum("revenue").alias("revenue"),
    )
    control = per_hour.where(F.col("campaign").isNull()).select(
        "hour_local",
        F.col("sessions").alias("control_sessions"),
        F.col("converted_sessions").alias("control_converted"),
    )
    rows = (
        per_hour.where(F.col("campaign").isNotNull())
        .join(control, "hour_local", "left")
        .fillna(0, ["control_sessions", "control_converted"])
        .withColumns({"local_date": F.to_date("hour_local"), "local_hour": F.hour("hour_local")})
    )
    # The campaign's own baseline: its sessions and purchases in the same local hour of the days before.
    prior = rows.select(
        "campaign",
        "local_hour",
        F.col("local_date").alias("prior_date"),
        F.col("sessions").alias("p_sessions"),
        F.col("converted_sessions").alias("p_converted"),
    )
    baseline = (
        rows.select("campaign", "local_hour", "local_date")
        .join(prior, ["campaign", "local_hour"])
        .where(
            (F.col("prior_date") < F.col("local_date"))
            & (F.col("prior_date") >= F.date_sub(F.col("local_date"), baseline_days))
        )
        .groupBy("campaign", "local_hour", "local_date")
        .agg(F.sum("p_sessions").alias("prior_sessions"), F.sum("p_converted").alias("prior_converted"))
    )
    rows = rows.where(F.col("local_date").isin(sorted(dates))).join(
        baseline, ["campaign", "local_hour", "local_date"], "left"
    )
    rows = rows.fillna(0, ["prior_sessions", "prior_converted"])
    a, n1 = F.col("converted_sessions").cast("double"), F.col("sessions").cast("double")
    c, n0 = F.col("control_converted").cast("double"), F.col("control_sessions").cast("double")
    r, s, p = _terms(a, n1, c, n0)
    rows = rows.withColumns({"_r": r, "_s": s, "_p": p})
    so_far = (
        Window.partitionBy("campaign", "local_date")
        .orderBy("hour_local")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    lift, low, high = _ratio(F.col("_r"), F.col("_s"), F.col("_p"), z)
    day_lift, day_low, day_high = _ratio(
        F.sum("_r").over(so_far), F.sum("_s").over(so_far), F.sum("_p").over(so_far), z
    )
    pc, pn = F.col("prior_converted").cast("double"), F.col("prior_sessions").cast("double")
    pr, ps, pp = _terms(a, n1, pc, pn)
    prior_lift, prior_low, prior_high = _ratio(pr, ps, pp, z)

    def share(num: Column, den: Column) -> Column:
        return F.when(den > 0, num.cast("double") / den)

    return rows.select(
        "local_date",
        "hour_local",
        "local_hour",
        "campaign",
        "sessions",
        "tagged_sessions",
        "product_views",
        "add_to_carts",
        "converted_sessions",
        "orders",
        "revenue",
        share(F.col("converted_sessions"), F.col("sessions")).alias("conversion"),
        share(F.col("revenue"), F.col("sessions")).alias("revenue_per_session"),
        "control_sessions",
        "control_converted",
        share(F.col("control_converted"), F.col("control_sessions")).alias("control_conversion"),
        lift.alias("conversion_lift"),
        low.alias("conversion_lift_low"),
        high.alias("conversion_lift_high"),
        F.sum("sessions").over(so_far).alias("day_sessions"),
        share(F.sum("converted_sessions").over(so_far), F.sum("sessions").over(so_far)).alias("day_conversion"),
        day_lift.alias("day_conversion_lift"),
        day_low.alias("day_conversion_lift_low"),
        day_high.alias("day_conversion_lift_high"),
        "prior_sessions",
        share(F.col("prior_converted"), F.col("prior_sessions")).alias("prior_conversion"),
        prior_lift.alias("lift_vs_prior"),
        prior_low.alias("lift_vs_prior_low"),
        prior_high.alias("lift_vs_prior_high"),
    )


def run_campaigns(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite the local dates whose rows a session date changed since the last run can move (with
    ``since``: also every date from it to ``run_date``)."""
    params = settings["gold"]["campaigns"]
    timezone = str(settings["gold"]["browsing"]["shop_timezone"])
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_campaigns", run_date, INPUTS, run_id=run_id)
    changed = {d for d in plan.dates(*INPUTS) if d <= run_date}
    if since is not None:
        changed |= {since + timedelta(days=i) for i in range((run_date - since).days + 1)}
    dates = {d for d in affected(changed, params) if d <= run_date + timedelta(days=1)}
    rows: dict[str, int] = {}
    if dates:
        lookback = int(params["attribution_days"]) + int(params["baseline_days"]) + 2
        first, last = min(dates) - timedelta(days=lookback), max(dates) + timedelta(days=1)
        sessions = read_table(spark, "gold.session_facts", settings).where(F.col("session_date").between(first, last))
        replace_partitions(transform(sessions, dates, params, timezone), TABLE, sorted(dates), settings)
        rows[TABLE] = read_table(spark, TABLE, settings).where(F.col("local_date").isin(*sorted(dates))).count()
    if dates or plan.has_news():
        manifest.record(spark, settings, plan, {TABLE: dates} if dates else {}, rows=rows)
    report: dict[str, Any] = {"run_date": str(run_date), "dates": describe(dates) if dates else "none", "rows": rows}
    return report | ({"noop": True} if not dates else {})
