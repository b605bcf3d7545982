"""gold.user_contact_time: the best local hour and day of the week to reach each customer.

Rules (conf ``gold.contact_time``, docs/customers.md), per customer of gold.customer_segments and
as_of_date A (data strictly before A):

* Evidence by local hour: ``purchase_weight`` × the customer's purchases in that hour
  (gold.purchase_time_profile of A, ``purchases_by_hour``) + ``session_weight`` × the starts of
  their consenting human sessions of the ``session_days`` before A in that hour (silver.sessions,
  ``local_start``, the stitched ``user_id``). Likewise by local ISO day of week.
* The hour scores are smoothed round the clock: score(h) = Σ evidence(h + d mod 24) for
  |d| <= ``smooth_hours``; the best hour is the highest score (on ties: more evidence in the hour
  itself, then the earlier hour), the best day the day with most evidence (the earliest on ties).
* The person's evidence is shrunk toward their segment's (else everyone's) purchases: the shares of
  the segment's purchases by hour × ``prior_strength`` are added to it before smoothing (likewise
  by day; a segment without purchases lends its evidence's shares), so a handful of purchases
  nudges the segment's typical hour and a long history replaces it.
  ``hour_share`` is the share of the person's own hour evidence within ±``smooth_hours`` of the
  chosen hour.
* With evidence (weighted purchases + sessions) below ``min_evidence``, the customer gets their
  segment's typical hour and day: the same argmax over the summed evidence of the segment's
  customers (source ``segment``); a segment with no evidence at all takes the global one
  (``global``: the sum over everyone).

Backtest (:func:`backtest`): the purchases of the ``horizon_days`` from A, in the buyer's local
hour, are reached when within ±``hit_hours`` (round the clock) of the suggested hour; the baseline
suggests everyone the shop's global peak hour (the local hour with most purchases before A).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import conform, ensure_table, read_table, replace_dates

TABLE = "gold.user_contact_time"
SEGMENTS = "gold.customer_segments"
PROFILE = "gold.purchase_time_profile"
HOURS, DAYS = 24, 7


def _iso_day(ts: Column) -> Column:
    """ISO day of week of a timestamp, 1 = Monday ... 7 = Sunday."""
    return (F.dayofweek(ts) + 5) % 7 + 1


def session_counts(sessions: DataFrame, as_of: DataFrame, days: int) -> DataFrame:
    """``user_id, as_of_date, sessions, session_hours[24], session_days[7]`` from silver.sessions rows.

    Consenting sessions with a user whose start is in the ``days`` before each as-of date.
    """
    start = F.col("session_start")
    recent = (
        sessions.where(F.col("consent_analytics") & F.col("user_id").isNotNull())
        .join(F.broadcast(as_of), how="cross")
        .where((start < F.to_timestamp("as_of_date")) & (start >= F.to_timestamp(F.date_sub("as_of_date", days))))
        .withColumns({"_h": F.hour("local_start"), "_d": _iso_day(F.col("local_start"))})
    )
    return recent.groupBy("user_id", "as_of_date").agg(
        F.count("*").alias("sessions"),
        F.array(*[F.count(F.when(F.col("_h") == h, 1)) for h in range(HOURS)]).alias("session_hours"),
        F.array(*[F.count(F.when(F.col("_d") == d, 1)) for d in range(1, DAYS + 1)]).alias("session_days"),
    )


def _weighted(purchases: Column, sessions: Column, n: int, pw: float, sw: float) -> Column:
    def at(arr: Column, i: Column) -> Column:
        return F.coalesce(F.element_at(arr, i + 1), F.lit(0)).cast("double")

    return F.transform(F.sequence(F.lit(0), F.lit(n - 1)), lambda i: at(purchases, i) * pw + at(sessions, i) * sw)


def smooth(hours: Column, width: int) -> Column:
    """Round-the-clock moving sum of a 24-value array over ±``width`` hours."""

    def around(h: Column) -> Column:
        return sum((F.element_at(hours, F.pmod(h + d, F.lit(HOURS)) + 1) for d in range(-width, width + 1)), F.lit(0.0))

    return F.transform(F.sequence(F.lit(0), F.lit(HOURS - 1)), around)


def argmax(values: Column) -> Column:
    """0-based index of the first largest element."""
    return F.array_position(values, F.array_max(values)).cast("int") - 1


def best_hour(raw: Column, smoothed: Column) -> Column:
    """The hour with the highest smoothed score; ties go to more evidence in the hour itself, then the earlier hour.

    ``raw`` and ``smoothed`` should be columns (not expressions), so the plan stays small.
    """
    keyed = F.transform(
        F.sequence(F.lit(0), F.lit(HOURS - 1)),
        lambda h: F.struct(
            F.element_at(smoothed, h + 1).alias("s"), F.element_at(raw, h + 1).alias("r"), (-h).alias("h")
        ),
    )
    return -F.array_max(keyed)["h"]


def _sum_arrays(col: str, n: int) -> list[Column]:
    return [F.sum(F.element_at(F.col(col), i + 1)).alias(f"_{col}_{i}") for i in range(n)]


def transform(segments: DataFrame, profile: DataFrame, sessions: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """gold.user_contact_time from customer_segments, purchase_time_profile and :func:`session_counts` rows (pure)."""
    pw, sw = float(params["purchase_weight"]), float(params["session_weight"])
    width = int(params["smooth_hours"])
    keys = ["user_id", "as_of_date"]
    joined = (
        segments.select(*keys, "segment")
        .join(profile.select(*keys, "purchases", "purchases_by_hour", "purchases_by_day_of_week"), keys, "left")
        .join(sessions, keys, "left")
        .fillna(0, ["purchases", "sessions"])
        .withColumns(
            {
                "_hours": _weighted(F.col("purchases_by_hour"), F.col("session_hours"), HOURS, pw, sw),
                "_days": _weighted(F.col("purchases_by_day_of_week"), F.col("session_days"), DAYS, pw, sw),
                "_bought_hours": _weighted(
                    F.col("purchases_by_hour"), F.lit(None).cast("array<long>"), HOURS, 1.0, 0.0
                ),
                "_bought_days": _weighted(
                    F.col("purchases_by_day_of_week"), F.lit(None).cast("array<long>"), DAYS, 1.0, 0.0
                ),
                "evidence": F.col("purchases") * pw + F.col("sessions") * sw,
            }
        )
    )

    # The typical hour and day of a segment and of everyone: the same rule on summed evidence.
    def typical(group: list[str], prefix: str) -> DataFrame:
        cols = {"_hours": HOURS, "_days": DAYS, "_bought_hours": HOURS, "_bought_days": DAYS}
        sums = joined.groupBy(*group).agg(*[c for name, n in cols.items() for c in _sum_arrays(name, n)])
        arrays = sums.select(
            *group,
            *[
                F.array(*[F.col(f"_{name}_{i}").cast("double") for i in range(n)]).alias(name)
                for name, n in cols.items()
            ],
        ).withColumn("_s", smooth(F.col("_hours"), width))

        def shares(bought: str, mixed: str) -> Column:
            # The prior: where the group's purchases fall (the thing to predict), else its evidence.
            return F.when(F.array_max(bought) > 0, _shares(F.col(bought))).when(
                F.array_max(mixed) > 0, _shares(F.col(mixed))
            )

        return arrays.select(
            *group,
            F.when(F.array_max("_hours") > 0, best_hour(F.col("_hours"), F.col("_s"))).alias(f"{prefix}_hour"),
            F.when(F.array_max("_days") > 0, argmax(F.col("_days")) + 1).alias(f"{prefix}_day"),
            shares("_bought_hours", "_hours").alias(f"{prefix}_hours"),
            shares("_bought_days", "_days").alias(f"{prefix}_days"),
        )

    by_segment = typical(["as_of_date", "segment"], "_segment")
    overall = typical(["as_of_date"], "_global")
    personal = F.col("evidence") >= float(params["min_evidence"])
    has_segment = F.col("_segment_hour").isNotNull()
    prior = float(params["prior_strength"])
    out = (
        joined.join(by_segment, ["as_of_date", "segment"], "left")
        .join(overall, "as_of_date", "left")
        .withColumns(
            {
                # A person's evidence plus prior_strength pseudo-observations spread like their
                # segment's (else everyone's): a few purchases nudge the typical hour, many replace it.
                "_post_h": _plus(F.col("_hours"), F.coalesce("_segment_hours", "_global_hours"), prior, HOURS),
                "_post_d": _plus(F.col("_days"), F.coalesce("_segment_days", "_global_days"), prior, DAYS),
            }
        )
        .withColumn("_smoothed", smooth(F.col("_post_h"), width))
        .withColumns(
            {
                "source": F.when(personal, "personal").when(has_segment, "segment").otherwise("global"),
                "best_local_hour": F.when(personal, best_hour(F.col("_post_h"), F.col("_smoothed")))
                .when(has_segment, F.col("_segment_hour"))
                .otherwise(F.coalesce(F.col("_global_hour"), F.lit(0))),
                "best_day_of_week": F.when(personal, argmax(F.col("_post_d")) + 1)
                .when(F.col("_segment_day").isNotNull(), F.col("_segment_day"))
                .otherwise(F.coalesce(F.col("_global_day"), F.lit(1))),
            }
        )
        .withColumn("hour_share", F.when(personal, _share_near(F.col("_hours"), F.col("best_local_hour"), width)))
    )
    return conform(out, TABLE)


def _shares(values: Column) -> Column:
    """An array divided by its sum (callers guard against an all-zero array)."""
    total = F.aggregate(values, F.lit(0.0), lambda a, x: a + x)
    return F.transform(values, lambda x: x / total)


def _plus(evidence: Column, shares: Column, weight: float, n: int) -> Column:
    """``evidence + weight × shares`` element-wise; null ``shares`` (no prior at all) add nothing."""
    return F.transform(
        F.sequence(F.lit(0), F.lit(n - 1)),
        lambda i: F.element_at(evidence, i + 1) + F.lit(weight) * F.coalesce(F.element_at(shares, i + 1), F.lit(0.0)),
    )


def _share_near(hours: Column, hour: Column, width: int) -> Column:
    """The share of a person's own hour evidence within ±``width`` hours of ``hour`` (round the clock)."""
    near = sum((F.element_at(hours, F.pmod(hour + d, F.lit(HOURS)) + 1) for d in range(-width, width + 1)), F.lit(0.0))
    return near / F.aggregate(hours, F.lit(0.0), lambda a, x: a + x)


# ---------------------------------------------------------------------------------------------
# Backtest


def hour_distance(a: Column, b: Column) -> Column:
    """Hours between two hours of the day, round the clock (0..12)."""
    d = F.abs(a - b) % HOURS
    return F.least(d, HOURS - d)


def backtest(contact: DataFrame, purchases: DataFrame, baseline_hour: int, hit_hours: int) -> dict[str, Any]:
    """Share of ``purchases`` (``user_id, as_of_date, local_hour``) within ±hit_hours of the suggestion.

    Only purchases of customers with a contact-time row of that as_of_date are scored, for the
    model (their ``best_local_hour``) and the baseline (``baseline_hour`` for everyone) alike.
    """
    scored = purchases.join(
        contact.select("user_id", "as_of_date", "best_local_hour", "source"), ["user_id", "as_of_date"]
    )
    hit = (hour_distance(F.col("local_hour"), F.col("best_local_hour")) <= hit_hours).cast("int")
    base = (hour_distance(F.col("local_hour"), F.lit(baseline_hour)) <= hit_hours).cast("int")
    rows = (
        scored.groupBy("source")
        .agg(F.count("*").alias("purchases"), F.sum(hit).alias("hits"), F.sum(base).alias("baseline_hits"))
        .collect()  # bounded: three sources
    )
    by_source = {r["source"]: {k: int(r[k] or 0) for k in ("purchases", "hits", "baseline_hits")} for r in rows}
    n = sum(v["purchases"] for v in by_source.values())
    hits = sum(v["hits"] for v in by_source.values())
    base_hits = sum(v["baseline_hits"] for v in by_source.values())
    return {
        "purchases": n,
        "hits": hits,
        "share": hits / n if n else float("nan"),
        "baseline_hour": baseline_hour,
        "baseline_hits": base_hits,
        "baseline_share": base_hits / n if n else float("nan"),
        "by_source": by_source,
    }


def local_purchases(orders: DataFrame, start: datetime, end: datetime) -> DataFrame:
    """``user_id, local_hour, created_at`` of orders with a buyer created in ``[start, end)``."""
    return orders.where(
        F.col("user_id").isNotNull()
        & (F.col("created_at") >= F.lit(start).cast("timestamp"))
        & (F.col("created_at") < F.lit(end).cast("timestamp"))
    ).select("user_id", F.hour("local_created_at").alias("local_hour"), "created_at")


def global_peak_hour(profile: DataFrame) -> int:
    """The local hour with most purchases over every profile row given (the earliest on ties; 0 if none)."""
    sums = profile.agg(*[F.sum(F.element_at("purchases_by_hour", h + 1)).alias(f"h{h}") for h in range(HOURS)]).first()
    counts = [int(sums[f"h{h}"] or 0) for h in range(HOURS)] if sums is not None else [0] * HOURS
    return max(range(HOURS), key=lambda h: (counts[h], -h))


def backtest_home(spark: SparkSession, settings: Settings, as_of: date) -> dict[str, Any]:
    """:func:`backtest` of the table's rows of ``as_of`` against the next ``horizon_days`` of silver.orders."""
    params = settings["gold"]["contact_time"]
    start = datetime.combine(as_of, time.min)
    end = start + timedelta(days=int(params["horizon_days"]))
    orders = read_table(spark, "silver.orders", settings).where(
        F.col("order_date").between(F.lit(as_of), F.lit(end.date()))
    )
    purchases = local_purchases(orders, start, end).withColumn("as_of_date", F.lit(as_of).cast("date"))
    contact = read_table(spark, TABLE, settings).where(F.col("as_of_date") == F.lit(as_of))
    profile = read_table(spark, PROFILE, settings).where(F.col("as_of_date") == F.lit(as_of))
    peak = global_peak_hour(profile)
    return {"as_of_date": str(as_of), "horizon_days": int(params["horizon_days"]),
            **backtest(contact, purchases, peak, int(params["hit_hours"]))}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# I/O


def run_contact_time(
    spark: SparkSession, run_date: date, settings: Settings, as_of_dates: Sequence[date] | None = None
) -> dict[str, Any]:
    """Write gold.user_contact_time for the as-of dates of gold.customer_segments (one transaction).

    ``as_of_dates`` default to the segments' as-of date of ``run_date``
    (:func:`jobs.gold.segments.as_of_dates_for`); run it after :func:`jobs.gold.segments.run_segments`.
    """
    from jobs.gold.segments import as_of_dates_for

    params = settings["gold"]["contact_time"]
    dates = sorted(set(as_of_dates or as_of_dates_for(run_date, settings["gold"]["segments"])))
    for name in (SEGMENTS, PROFILE, "silver.sessions", TABLE):
        ensure_table(spark, name, settings)
    first, last = dates[0], dates[-1]
    days = int(params["session_days"])
    segments = read_table(spark, SEGMENTS, settings).where(F.col("as_of_date").isin(*dates))
    profile = read_table(spark, PROFILE, settings).where(F.col("as_of_date").isin(*dates))
    sessions = read_table(spark, "silver.sessions", settings).where(
        F.col("session_date").between(F.lit(first - timedelta(days=days)), F.lit(last))
    )
    as_of = spark.createDataFrame([(d,) for d in dates], "as_of_date date")
    out = transform(segments, profile, session_counts(sessions, as_of, days), params)
    replace_dates(out, TABLE, first, last, settings)
    counts = read_table(spark, TABLE, settings).where(F.col("as_of_date").isin(*dates)).groupBy("source").count()
    return {
        "run_date": str(run_date),
        "as_of_dates": [str(d) for d in dates],
        "rows_by_source": {r["source"]: int(r["count"]) for r in counts.collect()},  # bounded: three sources
    }
