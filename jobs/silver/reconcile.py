"""Reconciliation over every date: where each landing line and each bronze row went.

``detak reconcile`` recomputes, independently of the jobs, for every event date and source of
bronze: bronze rows = silver rows + resent duplicates + too late (received more than
``silver.late_days`` after the event date), and compares the result with ``silver.reconciliation``,
which the silver job wrote. Dates with bronze rows silver has not consumed yet are listed as
pending, not as errors. Per landing file: lines = bronze rows + quarantined lines, and files that
could not be read are listed with their reason. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import ensure_table, read_table

SOURCES = ("clickstream", "search")
COLUMNS = ["event_date", "source", "bronze_rows", "duplicates", "too_late", "silver_rows"]


def expected(bronze: DataFrame, silver_events: DataFrame, late_days: int) -> DataFrame:
    """Per event date and source, recomputed from bronze and silver.events (pure).

    ``bronze``: the clickstream and search bronze rows with a ``source`` column.
    """
    per_event = bronze.groupBy("event_id").agg(
        F.count("*").alias("copies"),
        # The copy silver keeps is the first received; its date and source are the event's.
        F.min_by(F.struct("event_date", "source", "received_at"), F.col("received_at")).alias("kept"),
    )
    late = F.datediff(F.to_date(F.col("kept.received_at")), F.col("kept.event_date")) > F.lit(late_days)
    counts = per_event.groupBy(F.col("kept.event_date").alias("event_date"), F.col("kept.source").alias("source")).agg(
        F.sum("copies").alias("bronze_rows"),
        F.sum(F.col("copies") - 1).alias("duplicates"),
        F.count(F.when(late, 1)).alias("too_late"),
    )
    silver = silver_events.groupBy("event_date", "source").agg(F.count("*").alias("silver_rows"))
    return (
        counts.join(silver, ["event_date", "source"], "full")
        .fillna(0, ["bronze_rows", "duplicates", "too_late", "silver_rows"])
        .select(*[F.col(c).cast("long") if c not in ("event_date", "source") else F.col(c) for c in COLUMNS])
    )


@dataclass
class Reconciliation:
    rows: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)
    unreadable_files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.files.get("unbalanced")


def recompute(spark: SparkSession, settings: Settings) -> DataFrame:
    """:func:`expected` over the lake's bronze and silver.events, every date."""
    frames = []
    for source in SOURCES:
        ensure_table(spark, f"bronze.{source}_events", settings)
        frames.append(
            read_table(spark, f"bronze.{source}_events", settings)
            .select("event_id", "event_date", "received_at")
            .withColumn("source", F.lit(source))
        )
    bronze = frames[0].unionByName(frames[1])
    silver_events = read_table(spark, "silver.events", settings).select("event_date", "source")
    return expected(bronze, silver_events, int(settings["silver"]["late_days"]))


def reconcile(spark: SparkSession, settings: Settings) -> Reconciliation:
    """Every date and source of bronze accounted for; every landing file's lines accounted for."""
    for name in ("silver.events", "silver.reconciliation", "bronze.ingest_files", "bronze.quarantine_files"):
        ensure_table(spark, name, settings)
    recomputed = recompute(spark, settings).alias("e")
    recorded = read_table(spark, "silver.reconciliation", settings).alias("r")
    joined = recomputed.join(recorded, ["event_date", "source"], "left").select(
        "event_date",
        "source",
        *[F.col(f"e.{c}").alias(c) for c in COLUMNS[2:]],
        *[F.col(f"r.{c}").alias(f"recorded_{c}") for c in COLUMNS[2:]],
    )
    out = Reconciliation()
    for r in joined.orderBy("event_date", "source").collect():  # bounded: one row per date and source
        row = r.asDict()
        balanced = row["bronze_rows"] == row["silver_rows"] + row["duplicates"] + row["too_late"]
        if row["recorded_bronze_rows"] is None:
            # Bronze rows silver has not consumed yet: the next silver run takes them.
            out.pending.append(row)
            continue
        same = all(row[c] == row[f"recorded_{c}"] for c in COLUMNS[2:])
        row["status"] = "ok" if balanced and same else "MISMATCH"
        out.rows.append(row)
        if not (balanced and same):
            out.mismatches.append(row)
    files = read_table(spark, "bronze.ingest_files", settings)
    totals = files.agg(
        F.count("*").alias("files"),
        F.count(F.when(F.col("status") == "quarantined", 1)).alias("files_quarantined"),
        F.coalesce(F.sum("lines"), F.lit(0)).alias("lines"),
        F.coalesce(F.sum("valid"), F.lit(0)).alias("valid"),
        F.coalesce(F.sum("quarantined"), F.lit(0)).alias("quarantined"),
        F.count(F.when(F.col("lines") != F.col("valid") + F.col("quarantined"), 1)).alias("unbalanced"),
        F.count(F.when(F.col("duplicate_of").isNotNull(), 1)).alias("repeated"),
    ).first()
    out.files = totals.asDict() if totals else {}
    out.unreadable_files = [
        r.asDict()
        for r in read_table(spark, "bronze.quarantine_files", settings)
        .select("source", "path", "size", "reason", "error")
        .orderBy("source", "path")
        .limit(1000)
        .collect()  # bounded: at most 1000 files listed
    ]
    return out
