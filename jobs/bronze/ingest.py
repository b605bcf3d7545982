"""Bronze ingestion: landing JSON lines → ``bronze.<source>_events`` and ``bronze.quarantine``.

The landing folder of a source is read by Spark's Structured Streaming file source with the
``availableNow`` trigger: every file not yet recorded in the checkpoint is processed, in bounded
micro-batches, then the query stops. Each micro-batch is written by ``foreachBatch`` to three
Delta tables with Delta's idempotent-write options (``txnAppId`` = table and source,
``txnVersion`` = batch id). If a run dies mid-batch, the next run replays the same batch with
the same files and id, and Delta skips the writes that had already committed: exactly once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.bronze.validate import REASONS, validate
from jobs.common.config import Settings
from jobs.common.contracts import event_sources, source_contract
from jobs.common.errors import UserError
from jobs.common.tables import conform, ensure_table, table_path
from jobs.common.text import format_table

log = logging.getLogger(__name__)

EVENTS = "bronze.{source}_events"
QUARANTINE = "bronze.quarantine"
RUNS = "bronze.ingest_runs"


class InjectedFailure(RuntimeError):
    """Raised on purpose between two writes of a batch, to prove a replay is exactly once."""


def split(
    checked: DataFrame, source: str, run_id: str, batch_id: int, ingested_at: datetime
) -> tuple[DataFrame, DataFrame]:
    """Bronze rows and quarantine rows from validated lines; each line is in exactly one of them."""
    meta = {
        "_ingested_at": F.lit(ingested_at).cast("timestamp"),
        "_run_id": F.lit(run_id),
        "_batch_id": F.lit(batch_id).cast("long"),
    }
    event_cols = [F.col(f"p.{c}").alias(c) for c in source_contract(source).columns]
    valid = checked.where(F.col("reason").isNull()).select(
        *event_cols,
        F.to_date(F.col("p.event_time")).alias("event_date"),
        F.col("_source_file"),
        *[v.alias(k) for k, v in meta.items()],
    )
    rejected = checked.where(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"),
        "reason",
        "reason_detail",
        F.get_json_object("value", "$.event_id").alias("event_id"),
        F.get_json_object("value", "$.event_type").alias("event_type"),
        F.col("value").alias("raw_line"),
        "line_bytes",
        F.to_date(meta["_ingested_at"]).alias("ingest_date"),
        F.col("_source_file"),
        *[v.alias(k) for k, v in meta.items()],
    )
    return conform(valid, EVENTS.format(source=source)), conform(rejected, QUARANTINE)


def transform(
    lines: DataFrame, source: str, max_line_bytes: int, run_id: str, batch_id: int, ingested_at: datetime
) -> tuple[DataFrame, DataFrame]:
    """Split raw lines (``value``, ``_source_file``) into bronze rows and quarantine rows."""
    return split(validate(lines, source, max_line_bytes), source, run_id, batch_id, ingested_at)


@dataclass
class IngestReport:
    source: str
    run_id: str
    batches: int = 0
    files: int = 0
    lines: int = 0
    valid: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _kept(checked: DataFrame) -> DataFrame:
    """What the writes and counts of a batch need from validated lines, and no more: the parsed
    event of a valid line, the raw text of a rejected one. Cached, a batch takes about half the
    memory it would with both for every line (a large batch would otherwise spill to disk)."""
    valid = F.col("reason").isNull()
    return checked.select(
        F.when(valid, F.col("p")).alias("p"),
        F.when(~valid, F.col("value")).alias("value"),
        "reason",
        "reason_detail",
        "line_bytes",
        "_source_file",
    )


def _write(df: DataFrame, path: str, app_id: str, batch_id: int) -> None:
    (df.write.format("delta").mode("append").option("txnAppId", app_id).option("txnVersion", batch_id).save(path))


def _batch_writer(spark: SparkSession, source: str, settings: Settings, run_id: str, fail_after: str | None) -> Any:
    max_line_bytes = int(settings["ingest"]["max_line_bytes"])
    events_path = table_path(EVENTS.format(source=source), settings)
    quarantine_path = table_path(QUARANTINE, settings)
    runs_path = table_path(RUNS, settings)
    partitions = max(1, int(settings["spark"]["shuffle_partitions"]))

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        started = datetime.now(UTC).replace(tzinfo=None)
        # Landing files are small (one per hour); fewer, larger partitions mean fewer tasks and
        # fewer small Delta files. Validation runs once: both writes and the counts reuse it.
        checked = _kept(validate(batch.coalesce(partitions), source, max_line_bytes)).persist()
        try:
            valid, rejected = split(checked, source, run_id, batch_id, started)
            _write(valid, events_path, f"detak.bronze.{source}", batch_id)
            if fail_after == "events":
                raise InjectedFailure(f"injected failure after the events write of batch {batch_id}")
            _write(rejected, quarantine_path, f"detak.quarantine.{source}", batch_id)
            stats = checked.groupBy("reason").agg(F.count("*").alias("n")).collect()  # bounded: one row per reason
            counts = {r["reason"]: int(r["n"]) for r in stats}
            valid_n = counts.pop(None, 0)
            by_reason = {r: counts[r] for r in REASONS if r in counts}
            # Lines and files counted from the batch as read, not from the validated rows, so a
            # line lost on the way to bronze or quarantine would show here.
            lines, files = batch.agg(F.count("*"), F.countDistinct("_source_file")).first()  # type: ignore[misc]
            if lines != valid_n + sum(by_reason.values()):
                # Never expected: it would mean lines were lost between landing and bronze.
                raise RuntimeError(
                    f"{source} batch {batch_id}: {lines} lines read but {valid_n} valid + "
                    f"{sum(by_reason.values())} quarantined"
                )
            metrics = spark.createDataFrame(
                [
                    (source, batch_id, run_id, started, datetime.now(UTC).replace(tzinfo=None),
                     int(files), int(lines), valid_n, sum(by_reason.values()), by_reason)
                ],
                "source string, batch_id long, run_id string, started_at timestamp, finished_at timestamp, "
                "files long, lines long, valid long, quarantined long, quarantined_by_reason map<string,long>",
            )  # fmt: skip
            _write(conform(metrics, RUNS), runs_path, f"detak.ingest_runs.{source}", batch_id)
            print(
                f"{source} batch {batch_id}: {files} files, {lines} lines, {valid_n} valid, "
                f"{sum(by_reason.values())} quarantined",
                flush=True,
            )
        finally:
            checked.unpersist()

    return write_batch


def ingest_source(
    spark: SparkSession,
    source: str,
    settings: Settings,
    run_id: str | None = None,
    fail_after: str | None = None,
) -> IngestReport:
    """Ingest every landing file of ``source`` not ingested yet, then stop.

    ``fail_after="events"`` makes the first batch die after its first write (tests only).
    """
    if source not in event_sources():
        raise UserError(f"unknown source {source!r}; known: {', '.join(event_sources())}")
    run_id = run_id or f"manual__{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    for name in (EVENTS.format(source=source), QUARANTINE, RUNS):
        ensure_table(spark, name, settings)
    landing = f"{str(settings['paths']['landing']).rstrip('/')}/{source}"
    checkpoint = f"{str(settings['paths']['checkpoints']).rstrip('/')}/bronze/{source}"
    if "://" not in landing:
        # A source that has delivered nothing yet is normal, not an error.
        Path(landing).mkdir(parents=True, exist_ok=True)
    stream = (
        spark.readStream.format("text")
        .option("recursiveFileLookup", "true")
        .option("pathGlobFilter", "*.jsonl.gz")
        .option("maxFilesPerTrigger", int(settings["ingest"]["max_files_per_trigger"]))
        .load(landing)
        .select("value", F.col("_metadata.file_path").alias("_source_file"))
    )
    query = (
        stream.writeStream.queryName(f"detak_ingest_{source}")
        .foreachBatch(_batch_writer(spark, source, settings, run_id, fail_after))
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return run_report(spark, source, run_id, settings)


def run_report(spark: SparkSession, source: str, run_id: str, settings: Settings) -> IngestReport:
    """Totals of one run from ``bronze.ingest_runs`` (one small row per batch)."""
    rows = (
        spark.read.format("delta")
        .load(table_path(RUNS, settings))
        .where((F.col("source") == source) & (F.col("run_id") == run_id))
        .collect()  # bounded: one row per micro-batch of one run
    )
    report = IngestReport(source=source, run_id=run_id)
    for r in rows:
        report.batches += 1
        report.files += r["files"]
        report.lines += r["lines"]
        report.valid += r["valid"]
        report.quarantined += r["quarantined"]
        for reason, n in (r["quarantined_by_reason"] or {}).items():
            report.by_reason[reason] = report.by_reason.get(reason, 0) + n
    return report


def format_reports(reports: list[IngestReport]) -> str:
    """A plain-text table of run totals, one line per source."""
    reasons = [r for r in REASONS if any(rep.by_reason.get(r) for rep in reports)]
    head = ["source", "batches", "files", "lines", "valid", "quarantined", *reasons]
    rows = [
        [
            rep.source,
            rep.batches,
            rep.files,
            rep.lines,
            rep.valid,
            rep.quarantined,
            *[rep.by_reason.get(r, 0) for r in reasons],
        ]
        for rep in reports
    ]
    return format_table(head, rows)
