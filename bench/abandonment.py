"""Cart abandonment reasons scored against the simulator's planted causes.

``bench_abandonment`` runs the gold abandonment job over every day of a home that already has
silver (one run whose window covers all its days), then compares each cart's ``primary_reason``
with the ``planted_cause`` of ``<home>/truth/carts*.parquet``. Scored carts: those the simulator
abandoned (recovered ones included) that detak also calls abandoned or recovered; carts left out of
gold (no consent) and carts still ``open`` at the end of the data are counted, not scored. All
counting happens in Spark; only the small cause × reason table reaches the driver.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings, deep_merge
from jobs.common.tables import read_table
from jobs.gold.abandonment import REASONS, UNKNOWN, run_abandonment

LEFT = ("abandoned", "recovered")


def truth_carts(spark: SparkSession, home: Path) -> DataFrame:
    """The simulator's carts (every ``truth/carts*.parquet``)."""
    files = sorted(str(p) for p in (home / "truth").glob("carts*.parquet"))
    if not files:
        raise FileNotFoundError(f"no truth/carts*.parquet under {home}")
    return spark.read.parquet(*files)


def confusion(gold: DataFrame, truth: DataFrame) -> dict[str, Any]:
    """Cause × reason counts over the scored carts, plus the carts that could not be scored."""
    t = truth.where(F.col("outcome").isin(*LEFT)).select(
        "cart_id", "planted_cause", F.col("outcome").alias("true_outcome"), F.col("stage_reached").alias("true_stage")
    )
    g = gold.select("cart_id", "outcome", "primary_reason", "stage_reached")
    joined = t.join(g, "cart_id", "left")
    status = (
        F.when(F.col("outcome").isNull(), "not_in_gold")
        .when(F.col("outcome").isin(*LEFT), "scored")
        .otherwise(F.col("outcome"))
    )
    rows = (
        joined.withColumn("status", status)
        .groupBy("status", "planted_cause", "primary_reason")
        .agg(
            F.count("*").alias("n"),
            F.count(F.when(F.col("stage_reached") == F.col("true_stage"), 1)).alias("stage_ok"),
            F.count(F.when(F.col("outcome") == F.col("true_outcome"), 1)).alias("outcome_ok"),
        )
        .collect()  # bounded: statuses × causes × reasons
    )
    pairs: dict[tuple[str, str], int] = {}
    unscored: dict[str, int] = {}
    stage_ok = outcome_ok = 0
    for r in rows:
        if r.status != "scored":
            unscored[r.status] = unscored.get(r.status, 0) + r.n
            continue
        key = (r.planted_cause, r.primary_reason)
        pairs[key] = pairs.get(key, 0) + r.n
        stage_ok += r.stage_ok
        outcome_ok += r.outcome_ok
    return {"pairs": pairs, "unscored": unscored, "stage_ok": stage_ok, "outcome_ok": outcome_ok}


def score(gold: DataFrame, truth: DataFrame) -> dict[str, Any]:
    """Overall accuracy and per-reason precision and recall of ``primary_reason`` vs ``planted_cause``."""
    c = confusion(gold, truth)
    pairs: dict[tuple[str, str], int] = c["pairs"]
    n = sum(pairs.values())
    correct = sum(v for (cause, reason), v in pairs.items() if cause == reason)
    per_reason: dict[str, dict[str, float]] = {}
    for reason in (*REASONS, UNKNOWN):
        tp = pairs.get((reason, reason), 0)
        predicted = sum(v for (_, r), v in pairs.items() if r == reason)
        actual = sum(v for (cause, _), v in pairs.items() if cause == reason)
        if predicted or actual:
            per_reason[reason] = {
                "planted": actual,
                "predicted": predicted,
                "precision": tp / predicted if predicted else float("nan"),
                "recall": tp / actual if actual else float("nan"),
            }
    return {
        "abandoned_carts": n,
        "accuracy": correct / n if n else float("nan"),
        "stage_accuracy": c["stage_ok"] / n if n else float("nan"),
        "outcome_accuracy": c["outcome_ok"] / n if n else float("nan"),
        "per_reason": per_reason,
        "unscored": c["unscored"],
        "confusion": {f"{cause} -> {reason}": v for (cause, reason), v in sorted(pairs.items())},
    }


def markdown(result: dict[str, Any]) -> str:
    """The per-reason table and the headline numbers as markdown."""
    lines = [
        f"Abandoned carts scored: {result['abandoned_carts']}; primary reason accuracy "
        f"{result['accuracy']:.4f}; stage accuracy {result['stage_accuracy']:.4f}; abandoned vs recovered "
        f"{result['outcome_accuracy']:.4f}. Not scored: {result['unscored'] or 'none'}.",
        "",
        "| reason | planted | predicted | precision | recall |",
        "|---|---:|---:|---:|---:|",
    ]
    for reason, m in result["per_reason"].items():
        lines.append(f"| {reason} | {m['planted']} | {m['predicted']} | {m['precision']:.4f} | {m['recall']:.4f} |")
    return "\n".join(lines) + "\n"


def bench_abandonment(spark: SparkSession, settings: Settings) -> dict[str, Any]:
    """Run gold abandonment over every silver day of ``settings``' home and score it against the truth."""
    events = read_table(spark, "silver.events", settings)
    span = events.agg(F.min("event_date").alias("lo"), F.max("event_date").alias("hi")).first()
    if span is None or span.hi is None:
        raise ValueError("silver.events is empty: build silver first")
    # One run whose window (and carts' life) covers every day of the home.
    days = max((span.hi - span.lo).days, int(settings["gold"]["abandonment"]["lookback_days"]))
    tree = deep_merge(settings.tree, {"gold": {"abandonment": {"lookback_days": days}}})
    wide = Settings(env=settings.env, home=settings.home, tree=tree)
    started = time.perf_counter()
    metrics = run_abandonment(spark, span.hi, wide)
    seconds = time.perf_counter() - started
    gold = read_table(spark, "gold.cart_abandonment", wide)
    result = score(gold, truth_carts(spark, Path(settings.home)))
    result.update({"seconds": round(seconds, 1), "job": metrics})
    result["markdown"] = markdown(result)
    return result
