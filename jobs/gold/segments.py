"""gold.customer_segments and gold.segment_migration_weekly: who each customer is, week by week.

Rules (conf ``gold.segments``, see docs/customers.md):

* Input: features.user_daily of the as_of_date (data strictly before it), so a segment row is as
  point-in-time correct as the features.
* RFM: recency = ``days_since_last_activity``, frequency = ``purchase_days_90d``, monetary =
  ``revenue_90d``. Each becomes a score 1..``rfm_bins`` by quintile over that as-of date's users:
  ``1 + floor(bins × percent_rank)`` capped at ``bins``, ranked so that higher is better (recency
  descending). Equal values share a score (percent_rank gives ties the same rank), so everyone
  without a purchase has f_score 1 and the result never depends on row order.
* Named segment: the first rule of ``rules`` whose inclusive r/f/m ranges hold; the rules must
  cover every combination of scores (:func:`check_rules`).
* Behavioural cluster: :mod:`jobs.ml.segments` (KMeans, k by silhouette, ids stable by Hungarian
  matching with the previous as-of date's model). Trained on the driver on a bounded sample,
  assigned on the executors.
* Migration: each as-of date against ``as_of_date - cadence_days``; people present on one side
  only move from or to ``(none)``.

As-of dates: ``cadence_days`` apart on ISO weekday ``as_of_weekday`` (Mondays by default); the run
for logical date D builds the latest such date <= D + 1 (features of D + 1 are written by D's daily
run).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import conform, ensure_table, read_table, replace_dates
from jobs.ml import segments as clusters
from jobs.ml.common import to_pandas_capped

TABLE = "gold.customer_segments"
MIGRATION = "gold.segment_migration_weekly"
FEATURES = "features.user_daily"
NONE = "(none)"
#: features.user_daily columns behind R, F and M.
RECENCY, FREQUENCY, MONETARY = "days_since_last_activity", "purchase_days_90d", "revenue_90d"


def check_rules(rules: Sequence[Mapping[str, Any]], bins: int) -> list[str]:
    """The segment names in rule order; raises when some r/f/m combination matches no rule."""
    names = [str(r["segment"]) for r in rules]
    for score in itertools.product(range(1, bins + 1), repeat=3):
        if not any(_holds(rule, dict(zip("rfm", score, strict=True))) for rule in rules):
            raise ValueError(f"gold.segments.rules leave r/f/m scores {score} without a segment: add a catch-all rule")
    return names


def _holds(rule: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
    return all(lo <= scores[d] <= hi for d in "rfm" if d in rule for lo, hi in [rule[d]])


def _score(order: Column, bins: int) -> Column:
    rank = F.percent_rank().over(Window.partitionBy("as_of_date").orderBy(order))
    return F.least(F.lit(bins), F.floor(rank * bins).cast("int") + 1)


def rfm(features: DataFrame, bins: int) -> DataFrame:
    """``user_id, as_of_date, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_cell``."""
    base = features.select(
        "user_id",
        "as_of_date",
        F.col(RECENCY).cast("double").alias("recency_days"),
        F.coalesce(F.col(FREQUENCY), F.lit(0)).cast("long").alias("frequency"),
        F.coalesce(F.col(MONETARY), F.lit(0)).cast("long").alias("monetary"),
    )
    # One sort per as-of date over its users (a window over the date): fine for millions of users.
    scored = base.withColumns(
        {
            "r_score": _score(F.col("recency_days").desc(), bins),
            "f_score": _score(F.col("frequency").asc(), bins),
            "m_score": _score(F.col("monetary").asc(), bins),
        }
    )
    return scored.withColumn(
        "rfm_cell", F.concat(*[F.col(c).cast("string") for c in ("r_score", "f_score", "m_score")])
    )


def segment_of(rules: Sequence[Mapping[str, Any]]) -> Column:
    """The first rule that holds, as a Spark expression on r_score, f_score and m_score."""
    out: Any = F
    for rule in rules:
        cond = F.lit(True)
        for d in "rfm":
            if d in rule:
                lo, hi = rule[d]
                cond = cond & F.col(f"{d}_score").between(int(lo), int(hi))
        out = out.when(cond, F.lit(str(rule["segment"])))
    return out.otherwise(F.lit(None).cast("string"))


def transform(features: DataFrame, assigned: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """gold.customer_segments from features.user_daily rows and their cluster assignment (pure).

    ``assigned`` has ``user_id, as_of_date, cluster_id, cluster_distance`` for the same rows.
    """
    bins = int(params["rfm_bins"])
    rules = params["rules"]
    check_rules(rules, bins)
    scored = rfm(features, bins).withColumn("segment", segment_of(rules))
    return conform(scored.join(assigned, ["user_id", "as_of_date"]), TABLE)


def migration(current: DataFrame, previous: DataFrame, cadence_days: int) -> DataFrame:
    """gold.segment_migration_weekly: moves from ``previous`` rows to ``current`` rows (pure).

    Both are gold.customer_segments rows; each current as_of_date A is compared with the previous
    rows of A - ``cadence_days`` (absent rows count as ``(none)``).
    """
    dates = current.select("as_of_date").distinct()
    now = current.select("user_id", "as_of_date", "segment", F.col("cluster_id").cast("string").alias("cluster"))
    before = previous.join(
        dates.withColumn("_prev", F.date_sub("as_of_date", cadence_days)).select(
            F.col("as_of_date").alias("_to"), F.col("_prev").alias("as_of_date")
        ),
        "as_of_date",
    ).select(
        "user_id",
        F.col("_to").alias("as_of_date"),
        F.col("segment").alias("_segment_before"),
        F.col("cluster_id").cast("string").alias("_cluster_before"),
    )
    pairs = now.join(before, ["user_id", "as_of_date"], "full")
    moves = []
    for kind, after, prior in (("segment", "segment", "_segment_before"), ("cluster", "cluster", "_cluster_before")):
        moves.append(
            pairs.select(
                "as_of_date",
                F.lit(kind).alias("kind"),
                F.coalesce(F.col(prior), F.lit(NONE)).alias("from_value"),
                F.coalesce(F.col(after), F.lit(NONE)).alias("to_value"),
            )
        )
    both = moves[0].unionByName(moves[1])
    out = (
        both.groupBy("as_of_date", "kind", "from_value", "to_value")
        .agg(F.count("*").alias("users"))
        .withColumn("previous_as_of_date", F.date_sub("as_of_date", cadence_days))
    )
    return conform(out, MIGRATION)


# ---------------------------------------------------------------------------------------------
# I/O


#: A Monday: the cadence counts from here (``as_of_weekday`` shifts it).
_EPOCH = date(2024, 1, 1)


def is_as_of_date(d: date, params: Mapping[str, Any]) -> bool:
    """``d`` is on the cadence: ISO weekday ``as_of_weekday``, every ``cadence_days`` (1: every day)."""
    anchor = _EPOCH + timedelta(days=int(params["as_of_weekday"]) - 1)
    return (d - anchor).days % int(params["cadence_days"]) == 0


def as_of_dates_for(run_date: date, params: Mapping[str, Any]) -> list[date]:
    """The as-of date the run for logical date ``run_date`` builds: the latest on the cadence <= D + 1."""
    latest = run_date + timedelta(days=1)
    anchor = _EPOCH + timedelta(days=int(params["as_of_weekday"]) - 1)
    return [latest - timedelta(days=(latest - anchor).days % int(params["cadence_days"]))]


def _cluster_date(spark: SparkSession, features: DataFrame, as_of: date, settings: Settings) -> DataFrame:
    """Train (driver, bounded sample) and assign (executors) the clusters of one as-of date."""
    params = dict(settings["gold"]["segments"]["clustering"])
    names = [str(f) for f in params["features"]]
    sample, population = to_pandas_capped(
        features.select("user_id", *names), int(params["max_rows"]), int(params["random_state"])
    )  # bounded: max_rows users
    schema = "user_id string, as_of_date date, cluster_id int, cluster_distance double"
    if len(sample) == 0:  # nobody to cluster on this as-of date: no rows, no model
        return spark.createDataFrame([], schema)
    model = clusters.train_clusters(sample.sort_values("user_id").reset_index(drop=True), params,
                                    clusters.previous_model(settings, as_of))  # fmt: skip
    clusters.save(settings, as_of, model, population)
    shared = spark.sparkContext.broadcast(model)
    keys = ["user_id", "as_of_date"]
    return features.select(*keys, *names).mapInPandas(clusters.assign_batches(shared, keys), schema)


def run_segments(
    spark: SparkSession, run_date: date, settings: Settings, as_of_dates: Sequence[date] | None = None
) -> dict[str, Any]:
    """Build gold.customer_segments and gold.segment_migration_weekly for the as-of dates.

    ``as_of_dates`` default to :func:`as_of_dates_for` ``run_date``; given, they are built in date
    order (each date's cluster ids follow the previous model's). Each table's range of dates is
    replaced in one Delta transaction; models and cards go to ``<home>/models/segments/<date>/``.
    """
    params = settings["gold"]["segments"]
    check_rules(params["rules"], int(params["rfm_bins"]))
    dates = sorted(set(as_of_dates or as_of_dates_for(run_date, params)))
    for name in (FEATURES, TABLE, MIGRATION):
        ensure_table(spark, name, settings)
    features = read_table(spark, FEATURES, settings)
    frames = []
    for as_of in dates:
        day = features.where(F.col("as_of_date") == F.lit(as_of))
        frames.append(transform(day, _cluster_date(spark, day, as_of, settings), params))
    built = frames[0]
    for f in frames[1:]:
        built = built.unionByName(f)
    first, last = dates[0], dates[-1]
    replace_dates(built, TABLE, first, last, settings)

    cadence = int(params["cadence_days"])
    segments = read_table(spark, TABLE, settings)
    current = segments.where(F.col("as_of_date").isin(*dates))
    previous = segments.where(F.col("as_of_date").isin(*[d - timedelta(days=cadence) for d in dates]))
    replace_dates(migration(current, previous, cadence), MIGRATION, first, last, settings)
    counts = current.groupBy("as_of_date").count().collect()  # bounded: one row per as-of date
    return {
        "run_date": str(run_date),
        "as_of_dates": [str(d) for d in dates],
        "rows": {str(r["as_of_date"]): int(r["count"]) for r in counts},
        "models": [str(clusters.model_folder(settings, d)) for d in dates],
    }
