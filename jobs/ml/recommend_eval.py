"""Offline evaluation of gold.user_recommendations against a popularity baseline, on held-out days.

The split is by time: recommendations are built as of the cut-off (the first held-out day's 00:00
UTC by default: the last ``gold.recommendations.evaluation.test_days`` days of silver are held
out) from data strictly before it, exactly as the daily job builds them for that as_of_date. They
are scored on what each customer then did in ``[cut-off, cut-off + test_days)``: the products they
bought, and separately the products they added to a cart. Every customer with at least one such
product is scored (cold ones included: they get the fallbacks).

* recall@k: |top-k ∩ relevant| / |relevant|, averaged over customers.
* NDCG@k: Σ over hits of 1 / log2(rank + 1), divided by the ideal Σ_{r=1}^{min(|relevant|, k)}
  1 / log2(r + 1) (binary relevance), averaged over customers.
* Baseline: the same customers get the globally most popular products they have not bought
  (:func:`jobs.gold.recommendations.global_popular`), scored by the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import ensure_table, read_table
from jobs.gold import recommendations as rec

TARGETS = {"purchase": rec.PURCHASE, "add_to_cart": "add_to_cart"}


def relevant(rows: DataFrame, start: datetime, end: datetime, kind: str) -> DataFrame:
    """``user_id, product_id``: distinct products of ``kind`` each customer had in ``[start, end)``."""
    return (
        rows.where(
            (F.col("kind") == kind)
            & F.col("user_id").isNotNull()
            & (F.col("at") >= F.lit(start).cast("timestamp"))
            & (F.col("at") < F.lit(end).cast("timestamp"))
        )
        .select("user_id", "product_id")
        .distinct()
    )


def ranking_metrics(recs: DataFrame, truth: DataFrame, k: int) -> dict[str, float]:
    """Mean recall@k and NDCG@k over the customers of ``truth`` (pure; one row reaches the driver).

    ``recs``: ``user_id, product_id, rank`` (1 = first); ``truth``: ``user_id, product_id``.
    A customer without recommendations scores 0.
    """
    sizes = truth.groupBy("user_id").agg(F.count("*").alias("_n"))
    hits = (
        recs.where(F.col("rank") <= k)
        .join(truth, ["user_id", "product_id"])
        .groupBy("user_id")
        .agg(F.count("*").alias("_hits"), F.sum(F.lit(1.0) / F.log2(F.col("rank") + 1)).alias("_dcg"))
    )
    ideal = F.aggregate(
        F.sequence(F.lit(1), F.least(F.col("_n"), F.lit(k))),
        F.lit(0.0),
        lambda acc, r: acc + F.lit(1.0) / F.log2(r + 1),
    )
    per_user = (
        sizes.join(hits, "user_id", "left")
        .fillna(0, ["_hits"])
        .fillna(0.0, ["_dcg"])
        .select((F.col("_hits") / F.col("_n")).alias("recall"), (F.col("_dcg") / ideal).alias("ndcg"), "_hits")
    )
    row = per_user.agg(
        F.count("*").alias("users"), F.avg("recall").alias("recall"), F.avg("ndcg").alias("ndcg"),
        F.sum("_hits").alias("hits"),
    ).first()  # fmt: skip
    if row is None or not row["users"]:
        return {"users": 0, "recall": float("nan"), "ndcg": float("nan"), "hits": 0}
    return {
        "users": int(row["users"]),
        "recall": float(row["recall"]),
        "ndcg": float(row["ndcg"]),
        "hits": int(row["hits"]),
    }


def evaluate(rows: DataFrame, cutoff: datetime, params: Mapping[str, Any]) -> dict[str, Any]:
    """Model and popularity baseline, recall@k and NDCG@k, per target, on ``rows`` split at ``cutoff``.

    ``rows`` are :func:`jobs.gold.recommendations.interactions` covering the history before the
    cut-off and the held-out days after it.
    """
    ev = params["evaluation"]
    k, days = int(ev["k"]), int(ev["test_days"])
    end = cutoff + timedelta(days=days)
    truths = {name: relevant(rows, cutoff, end, kind).cache() for name, kind in TARGETS.items()}
    users = truths["purchase"].select("user_id").unionByName(truths["add_to_cart"].select("user_id")).distinct()
    similar = rec.similar_products(rows, cutoff, params)
    model = rec.recommend(rows, similar, users, cutoff, params).cache()
    baseline = rec.global_popular(rows, users, cutoff, params).cache()
    out: dict[str, Any] = {"cutoff": str(cutoff), "test_days": days, "k": k, "min_lift": float(ev["min_lift"])}
    for name, truth in truths.items():
        m = ranking_metrics(model, truth, k)
        b = ranking_metrics(baseline, truth, k)
        lift = m["recall"] / b["recall"] - 1 if b["recall"] and b["recall"] > 0 else float("nan")
        out[name] = {"model": m, "baseline": b, "recall_lift": lift}
    sources = model.groupBy("source").count().collect()  # bounded: three sources
    out["sources"] = {r["source"]: int(r["count"]) for r in sources}
    return out


def evaluate_home(
    spark: SparkSession,
    settings: Settings,
    cutoff: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    by_device: bool = False,
) -> dict[str, Any]:
    """:func:`evaluate` on a home's silver tables; the cut-off defaults to the last test_days of silver.

    ``by_device`` scores devices where there are no accounts (OTTO); see
    :func:`jobs.gold.recommendations.interactions`.
    """
    params = params or settings["gold"]["recommendations"]
    ensure_table(spark, "silver.events", settings)
    newest = read_table(spark, "silver.events", settings).agg(F.min("event_date"), F.max("event_date")).first()
    if newest is None or newest[1] is None:
        raise ValueError("silver.events is empty: nothing to evaluate")
    first_day: date = newest[0]
    last_day: date = newest[1]
    days = int(params["evaluation"]["test_days"])
    if cutoff is None:
        cutoff = datetime.combine(last_day - timedelta(days=days - 1), time.min)
    if cutoff <= datetime.combine(first_day, time.min):
        raise ValueError(f"the cut-off {cutoff} leaves no history before it (silver starts on {first_day})")
    history = max(int(params["history_days"]), int(params["popularity_days"]))
    rows = rec.read_interactions(
        spark, settings, cutoff.date() - timedelta(days=history + 1), (cutoff + timedelta(days=days)).date(), by_device
    ).cache()
    return {"silver_dates": [str(first_day), str(last_day)], **evaluate(rows, cutoff, params)}
