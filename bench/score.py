"""Scores of the silver layer against the simulator's truth, computed in Spark (no event-level collect).

Bots are counted by device (anonymous_id): a device is flagged when any of its silver events is.
A true human session matches when exactly its events (those that reached silver) form one detak
session, as in tests/silver/test_sessions.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.silver.privacy import hmac_sha256
from jobs.silver.sessions import sessionize


def score_bots(spark: SparkSession, silver_events: DataFrame, truth: Path, key: bytes) -> dict[str, Any]:
    bots = (
        spark.read.parquet(str(truth / "bot_actors.parquet"))
        .select(hmac_sha256(F.col("anonymous_id"), key).alias("anonymous_id"), "kind")
        .distinct()
    )
    flagged = silver_events.where("is_bot").select("anonymous_id").distinct().withColumn("flagged", F.lit(True))
    joined = bots.join(flagged, "anonymous_id", "full_outer")
    rows = (
        joined.groupBy(F.coalesce("kind", F.lit("human")).alias("kind"))
        .agg(F.count("*").alias("devices"), F.count(F.when(F.col("flagged"), 1)).alias("flagged"))
        .collect()  # bounded: one row per bot kind
    )
    by_kind = {r.kind: (r.flagged, r.devices) for r in rows}
    true_pos = sum(f for k, (f, _) in by_kind.items() if k != "human")
    bot_devices = sum(n for k, (_, n) in by_kind.items() if k != "human")
    false_pos = by_kind.get("human", (0, 0))[0]
    return {
        "bot_devices": bot_devices,
        "flagged_devices": true_pos + false_pos,
        "precision": true_pos / max(1, true_pos + false_pos),
        "recall": true_pos / max(1, bot_devices),
        "recall_by_kind": {k: f / n for k, (f, n) in sorted(by_kind.items()) if k != "human"},
    }


def score_sessions(spark: SparkSession, silver_events: DataFrame, truth: Path, params: Any) -> dict[str, Any]:
    detak = sessionize(silver_events.where(~F.col("is_bot")), params).select("event_id", "session_id")
    true_events = (
        spark.read.parquet(str(truth / "events.parquet"))
        .where(F.col("true_session_id").isNotNull() & ~F.col("is_bot"))
        .select("event_id", "true_session_id")
        .join(silver_events.select("event_id"), "event_id")
    )
    sizes = detak.groupBy("session_id").agg(F.count("*").alias("detak_size"))
    per_true = (
        true_events.join(detak, "event_id", "left")
        .groupBy("true_session_id")
        .agg(
            F.count("*").alias("true_size"),
            F.countDistinct("session_id").alias("detak_sessions"),
            F.first("session_id", ignorenulls=True).alias("session_id"),
        )
        .join(sizes, "session_id", "left")
    )
    matched = (F.col("detak_sessions") == 1) & (F.col("detak_size") == F.col("true_size"))
    row = per_true.agg(F.count("*").alias("sessions"), F.count(F.when(matched, 1)).alias("matched")).first()
    assert row is not None
    return {"true_sessions": row.sessions, "matched": row.matched, "match_rate": row.matched / max(1, row.sessions)}
