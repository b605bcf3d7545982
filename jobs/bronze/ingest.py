"""Bronze ingestion: landing files → ``bronze.<source>_events``, the quarantines and the file ledger.

The landing folder of a source is read by Spark's Structured Streaming file source with the
``availableNow`` trigger: every file not yet recorded in the checkpoint is processed, in bounded
micro-batches, then the query stops. The source is ``binaryFile``: each file arrives as bytes and
is read in Python (:mod:`jobs.bronze.landing`), so a file that cannot be read (truncated or
corrupt gzip, not gzip, empty, unreadable) goes to ``bronze.quarantine_files`` with its reason,
and the rest of its batch is ingested. A bad delivery never stops a source.

Each line of a readable file is then validated against the source's contract
(:mod:`jobs.bronze.validate`) and lands in exactly one of ``bronze.<source>_events`` and
``bronze.quarantine``; every file gets a row in ``bronze.ingest_files`` (its hash, lines, where
they went, and the earlier file it repeats when it is a re-delivery), every batch one in
``bronze.ingest_runs``. Each of these writes uses Delta's idempotent-write options
(``txnAppId`` = table, source and the checkpoint's own id; ``txnVersion`` = batch id): if a run
dies mid-batch, the next run replays the same batch with the same files and id, and Delta skips
the writes that had already committed, so the batch lands exactly once.

Checkpoint safety: the checkpoint carries an id of its own, made when it is created. A lost or
reset checkpoint gets a new id, so its batch ids (which restart at 0) can never be mistaken for
batches Delta has already seen; and files the ledger shows as committed are skipped, so a
re-listed landing folder is not ingested twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery

from jobs.bronze.formats import translate
from jobs.bronze.landing import FILE_REASONS, append_line, folder_name, landing_folder, read_file
from jobs.bronze.validate import REASONS, time_rules_of, validate
from jobs.common.config import Settings
from jobs.common.contracts import event_sources, source_contract
from jobs.common.errors import UserError
from jobs.common.eventtime import corrected_time, utc_date
from jobs.common.tables import conform, ensure_table, read_table, table_path
from jobs.common.text import format_table

log = logging.getLogger(__name__)

EVENTS = "bronze.{source}_events"
QUARANTINE = "bronze.quarantine"
QUARANTINE_FILES = "bronze.quarantine_files"
FILES = "bronze.ingest_files"
RUNS = "bronze.ingest_runs"
CHECKPOINT_ID = "_detak_checkpoint_id"

#: One row per line or per file (``kind``), as :func:`_decoder` emits them.
DECODED = T.StructType(
    [
        T.StructField("kind", T.StringType(), False),
        T.StructField("_source_file", T.StringType(), False),
        T.StructField("_line", T.LongType(), True),
        T.StructField("value", T.StringType(), True),
        T.StructField("line_bytes", T.LongType(), True),
        T.StructField("pre_reason", T.StringType(), True),
        T.StructField("pre_detail", T.StringType(), True),
        T.StructField("raw_sha256", T.StringType(), True),
        T.StructField("file_size", T.LongType(), True),
        T.StructField("file_modified_at", T.TimestampType(), True),
        T.StructField("file_sha256", T.StringType(), True),
        T.StructField("file_lines", T.LongType(), True),
        T.StructField("file_reason", T.StringType(), True),
        T.StructField("file_error", T.StringType(), True),
    ]
)
_ARROW = pa.schema(
    [
        ("kind", pa.string()),
        ("_source_file", pa.string()),
        ("_line", pa.int64()),
        ("value", pa.string()),
        ("line_bytes", pa.int64()),
        ("pre_reason", pa.string()),
        ("pre_detail", pa.string()),
        ("raw_sha256", pa.string()),
        ("file_size", pa.int64()),
        ("file_modified_at", pa.timestamp("us", tz="UTC")),
        ("file_sha256", pa.string()),
        ("file_lines", pa.int64()),
        ("file_reason", pa.string()),
        ("file_error", pa.string()),
    ]
)
_CHUNK = 50_000
#: The fixed schema of Spark's binaryFile source (a stream must be given it).
BINARY_FILE = T.StructType(
    [
        T.StructField("path", T.StringType(), False),
        T.StructField("modificationTime", T.TimestampType(), False),
        T.StructField("length", T.LongType(), False),
        T.StructField("content", T.BinaryType(), True),
    ]
)


class InjectedFailure(RuntimeError):
    """Raised on purpose between two writes of a batch, to prove a replay is exactly once."""


def _decoder(max_line_bytes: int, prefix_bytes: int) -> Any:
    """The ``mapInArrow`` function: files (path, modificationTime, length, content) → line and file rows."""

    def rows_batch(rows: dict[str, list[Any]]) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict(rows, schema=_ARROW)

    def empty() -> dict[str, list[Any]]:
        return {name: [] for name in _ARROW.names}

    def decode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for rb in batches:
            paths = rb.column("path").to_pylist()
            mtimes = rb.column("modificationTime").to_pylist()
            sizes = rb.column("length").to_pylist()
            contents = rb.column("content")
            for i, path in enumerate(paths):
                data = contents[i].as_py()
                verdict, lines = read_file(path, data, max_line_bytes, prefix_bytes)
                chunk = empty()
                for ln in lines:
                    append_line(chunk, path, ln)
                    if len(chunk["kind"]) >= _CHUNK:
                        yield rows_batch(chunk)
                        chunk = empty()
                del lines
                record = {
                    "kind": ["file"],
                    "_source_file": [path],
                    "_line": [None],
                    "value": [None],
                    "line_bytes": [None],
                    "pre_reason": [None],
                    "pre_detail": [None],
                    "raw_sha256": [None],
                    "file_size": [sizes[i]],
                    "file_modified_at": [mtimes[i]],
                    "file_sha256": [verdict.sha256],
                    "file_lines": [verdict.lines],
                    "file_reason": [verdict.reason],
                    "file_error": [verdict.error],
                }
                for name, values in record.items():
                    chunk[name].extend(values)
                yield rows_batch(chunk)

    return decode


def split(
    checked: DataFrame,
    source: str,
    run_id: str,
    batch_id: int,
    ingested_at: datetime,
    clock_skew: dict[str, Any],
) -> tuple[DataFrame, DataFrame]:
    """Bronze rows and quarantine rows from validated lines; each line is in exactly one of them."""
    meta = {
        "_ingested_at": F.lit(ingested_at).cast("timestamp"),
        "_run_id": F.lit(run_id),
        "_batch_id": F.lit(batch_id).cast("long"),
    }
    lines = checked.where(F.col("kind") == "line")
    event_cols = [F.col(f"p.{c}").alias(c) for c in source_contract(source).columns]
    event_time, _ = corrected_time(
        clock_skew,
        F.col("p.event_time"),
        F.col("p.sent_at") if _has(source, "sent_at") else F.lit(None).cast("timestamp"),
        F.col("p.received_at"),
    )
    valid = lines.where(F.col("reason").isNull()).select(
        *event_cols,
        utc_date(event_time).alias("event_date"),
        "_source_file",
        "_line",
        *[v.alias(k) for k, v in meta.items()],
    )
    rejected = lines.where(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"),
        "reason",
        "reason_detail",
        F.col("q_event_id").alias("event_id"),
        F.col("q_event_type").alias("event_type"),
        F.col("value").alias("raw_line"),
        "line_bytes",
        "raw_sha256",
        F.to_date(meta["_ingested_at"]).alias("ingest_date"),
        "_source_file",
        "_line",
        *[v.alias(k) for k, v in meta.items()],
    )
    return conform(valid, EVENTS.format(source=source)), conform(rejected, QUARANTINE)


def _has(source: str, column: str) -> bool:
    return column in source_contract(source).columns


def transform(
    files: DataFrame,
    source: str,
    settings: Settings,
    run_id: str,
    batch_id: int,
    ingested_at: datetime,
) -> tuple[DataFrame, DataFrame]:
    """Split landing files (``binaryFile`` rows) into bronze rows and quarantine rows (no writes)."""
    checked = check(decode(files, settings), source, settings)
    return split(checked, source, run_id, batch_id, ingested_at, settings["silver"]["clock_skew"])


def decode(files: DataFrame, settings: Settings) -> DataFrame:
    """``binaryFile`` rows → one row per line and one per file (:data:`DECODED`)."""
    ingest = settings["ingest"]
    fn = _decoder(int(ingest["max_line_bytes"]), int(ingest["oversized_prefix_bytes"]))
    return files.select("path", "modificationTime", "length", "content").mapInArrow(fn, DECODED)


def check(decoded: DataFrame, source: str, settings: Settings) -> DataFrame:
    """Validate the decoded lines; keep what the writes and counts need (the parsed event of a valid
    line, the text of a rejected one, the file rows), about half what both for every line would take.

    A reason found while decoding (invalid encoding, oversized line) wins over validation's.
    """
    ingest = settings["ingest"]
    decoded = translate(decoded, source, settings)
    checked = validate(decoded, source, int(ingest["max_line_bytes"]), time_rules_of(settings))
    reason = F.coalesce(F.col("pre_reason"), F.col("reason"))
    detail = F.when(F.col("pre_reason").isNotNull(), F.col("pre_detail")).otherwise(F.col("reason_detail"))
    known = F.array(*[F.lit(c) for c in source_contract(source).columns])
    is_line = F.col("kind") == "line"
    valid = is_line & reason.isNull()
    return checked.select(
        "kind",
        "_source_file",
        "_line",
        F.when(valid, F.col("p")).alias("p"),
        # A rejected line is kept as delivered (a tracker's line, not its translation).
        F.when(is_line & ~valid, F.coalesce(F.col("raw_value"), F.col("value"))).alias("value"),
        F.when(is_line & ~valid, F.get_json_object("value", "$.event_id")).alias("q_event_id"),
        F.when(is_line & ~valid, F.coalesce(F.get_json_object("value", "$.event_type"), F.col("tracker_event"))).alias(
            "q_event_type"
        ),
        F.when(is_line, reason).alias("reason"),
        F.when(is_line, detail).alias("reason_detail"),
        "line_bytes",
        "raw_sha256",
        # Fields the contract does not know are not kept; they are counted per batch.
        F.when(valid, F.array_except(F.coalesce(F.col("keys"), F.array()), known)).alias("unknown_fields"),
        "file_size",
        "file_modified_at",
        "file_sha256",
        "file_lines",
        "file_reason",
        "file_error",
    )


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
    files_quarantined: int = 0
    files_by_reason: dict[str, int] = field(default_factory=dict)
    files_repeated: int = 0
    files_skipped: int = 0
    unknown_fields: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def wrote_rows(self) -> bool:
        """Whether this run added anything to bronze (what the ingest Assets announce)."""
        return self.valid > 0


def _write(df: DataFrame, path: str, app_id: str, batch_id: int) -> None:
    (df.write.format("delta").mode("append").option("txnAppId", app_id).option("txnVersion", batch_id).save(path))


def checkpoint_id(checkpoint: str) -> str:
    """The id of the checkpoint at ``checkpoint``, made (with the folder) when it does not exist.

    A new id for a new checkpoint keeps Delta's idempotent writes from skipping new batches whose
    ids an older, lost checkpoint had used.
    """
    if "://" in checkpoint and not checkpoint.startswith("file:"):
        raise UserError(
            f"paths.checkpoints is {checkpoint}: streaming checkpoints must be on a file system (a shared mount "
            "on a cluster), not object storage"
        )
    folder = Path(checkpoint.removeprefix("file:"))
    marker = folder / CHECKPOINT_ID
    if marker.exists():
        return marker.read_text().strip()
    fresh = uuid.uuid4().hex[:12]
    if folder.exists() and any(folder.iterdir()):
        log.warning("checkpoint %s has no id (made by an older detak); giving it %s", folder, fresh)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{CHECKPOINT_ID}.{fresh}"
    tmp.write_text(fresh)
    tmp.replace(marker)
    return fresh


def _file_batch(
    spark: SparkSession, source: str, settings: Settings, checkpoint: str
) -> Callable[[DataFrame, int], tuple[DataFrame, dict[str, Any], set[str], int, DataFrame | None]]:
    """How a micro-batch of landing files becomes checked lines: its files, those already ingested."""

    def prepare(batch: DataFrame, batch_id: int) -> tuple[DataFrame, dict[str, Any], set[str], int, DataFrame | None]:
        listed = _listing(batch, checkpoint, batch_id)
        committed = _committed(spark, settings, source, list(listed))
        fresh = batch.where(~F.col("path").isin(list(committed))) if committed else batch
        return check(decode(fresh, settings), source, settings).persist(), listed, committed, len(committed), None

    return prepare


def _kafka_batch(
    spark: SparkSession, source: str, settings: Settings, done: dict[int, int]
) -> Callable[[DataFrame, int], tuple[DataFrame, dict[str, Any], set[str], int, DataFrame | None]]:
    """How a micro-batch of Kafka records becomes checked lines (see :mod:`jobs.bronze.kafka`).

    ``done``: per partition, the last offset the ledger holds, when the checkpoint is new (records
    up to it were ingested under a lost checkpoint and are skipped).
    """
    from jobs.bronze import kafka

    ingest = settings["ingest"]

    def prepare(batch: DataFrame, batch_id: int) -> tuple[DataFrame, dict[str, Any], set[str], int, DataFrame | None]:
        records = batch.select("topic", "partition", "offset", "timestamp", "value").persist()
        skipped = 0
        if done:
            kept = kafka.skip_ingested(records, done).persist()
            skipped = records.count() - kept.count()
            records.unpersist()
            records = kept
            if skipped:
                log.warning("%s: %d records were ingested before (the checkpoint was reset); skipped", source, skipped)
        parts = kafka.ranges(records)
        listed = {p["path"]: {"length": p["bytes"], "modificationTime": p["latest"]} for p in parts.values()}
        fn = kafka.record_decoder(
            {k: p["path"] for k, p in parts.items()},
            int(ingest["max_line_bytes"]),
            int(ingest["oversized_prefix_bytes"]),
            _ARROW,
            _CHUNK,
        )
        lines = records.mapInArrow(fn, DECODED)
        files = spark.createDataFrame(
            [("file", p["path"], None, None, None, None, None, None, p["bytes"], p["latest"], None, p["records"],
              None, None) for p in parts.values()],
            DECODED,
        )  # fmt: skip
        checked = check(lines.unionByName(files), source, settings).persist()
        return checked, listed, set(), skipped, records

    return prepare


def _batch_writer(
    spark: SparkSession,
    source: str,
    settings: Settings,
    run_id: str,
    fail_after: str | None,
    kafka_done: dict[int, int] | None = None,
) -> Any:
    checkpoint = _checkpoint(source, settings)
    ckpt = checkpoint_id(checkpoint)
    paths = {name: table_path(name, settings) for name in (QUARANTINE, QUARANTINE_FILES, FILES, RUNS)}
    events_path = table_path(EVENTS.format(source=source), settings)
    clock_skew = settings["silver"]["clock_skew"]
    prepare = (
        _file_batch(spark, source, settings, checkpoint)
        if kafka_done is None
        else _kafka_batch(spark, source, settings, kafka_done)
    )

    def app(name: str) -> str:
        return f"detak.{name}.{source}.{ckpt}"

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        started = datetime.now(UTC).replace(tzinfo=None)
        checked, listed, committed, skipped, held = prepare(batch, batch_id)
        try:
            valid, rejected = split(checked, source, run_id, batch_id, started, clock_skew)
            # Counted first so that a batch writes only the tables it has rows for: every Delta
            # commit costs a job and a log entry, and most batches quarantine nothing.
            per_file, totals = _counts(checked)
            if totals["valid"]:
                _write(valid, events_path, app("bronze"), batch_id)
            if fail_after == "events":
                raise InjectedFailure(f"injected failure after the events write of batch {batch_id}")
            if totals["quarantined"]:
                _write(rejected, paths[QUARANTINE], app("quarantine"), batch_id)
            file_rows = _file_rows(spark, settings, source, checked, listed, committed, per_file)
            meta = (run_id, batch_id, started)
            ledger = _ledger_frame(spark, file_rows, source, meta)
            if any(f["status"] == "quarantined" for f in file_rows):
                bad = ledger.where(F.col("status") == "quarantined")
                _write(
                    conform(
                        bad.withColumnRenamed("file_reason", "reason").withColumnRenamed("file_error", "error"),
                        QUARANTINE_FILES,
                    ),
                    paths[QUARANTINE_FILES],
                    app("quarantine_files"),
                    batch_id,
                )
            _write(conform(ledger, FILES), paths[FILES], app("ingest_files"), batch_id)
            lines = sum(f["file_lines"] or 0 for f in file_rows if f["status"] == "ingested")
            if lines != totals["valid"] + totals["quarantined"]:
                # Never expected: it would mean lines were lost between the landing files and bronze.
                raise RuntimeError(
                    f"{source} batch {batch_id}: {lines} lines read but {totals['valid']} valid + "
                    f"{totals['quarantined']} quarantined"
                )
            files_by_reason: dict[str, int] = {}
            for f in file_rows:
                if f["file_reason"]:
                    files_by_reason[f["file_reason"]] = files_by_reason.get(f["file_reason"], 0) + 1
            metrics = spark.createDataFrame(
                [
                    (source, batch_id, run_id, started, datetime.now(UTC).replace(tzinfo=None), len(listed),
                     lines, totals["valid"], totals["quarantined"], totals["by_reason"],
                     sum(files_by_reason.values()), files_by_reason,
                     sum(1 for f in file_rows if f["duplicate_of"]), skipped, totals["unknown_fields"])
                ],
                "source string, batch_id long, run_id string, started_at timestamp, finished_at timestamp, "
                "files long, lines long, valid long, quarantined long, quarantined_by_reason map<string,long>, "
                "files_quarantined long, files_quarantined_by_reason map<string,long>, files_repeated long, "
                "files_skipped long, unknown_fields map<string,long>",
            )  # fmt: skip
            _write(conform(metrics, RUNS), paths[RUNS], app("ingest_runs"), batch_id)
            print(
                f"{source} batch {batch_id}: {len(listed)} files, {lines} lines, {totals['valid']} valid, "
                f"{totals['quarantined']} quarantined"
                + (f", {sum(files_by_reason.values())} files quarantined" if files_by_reason else ""),
                flush=True,
            )
        finally:
            checked.unpersist()
            if held is not None:
                held.unpersist()

    return write_batch


def _counts(checked: DataFrame) -> tuple[dict[str, tuple[int, int]], dict[str, Any]]:
    """Per file (valid, quarantined) lines, and the batch's totals by reason and unknown field."""
    lines = checked.where(F.col("kind") == "line")
    # Files and reasons in one pass.
    groups = lines.groupBy("_source_file", "reason").agg(F.count("*").alias("n"))
    per_file: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}
    valid = 0
    for r in groups.collect():  # bounded: one row per file and reason of the batch
        valid_n, bad_n = per_file.get(r["_source_file"], (0, 0))
        n = int(r["n"])
        if r["reason"] is None:
            per_file[r["_source_file"]] = (valid_n + n, bad_n)
            valid += n
        else:
            per_file[r["_source_file"]] = (valid_n, bad_n + n)
            counts[r["reason"]] = counts.get(r["reason"], 0) + n
    order = [*REASONS, *sorted(set(counts) - set(REASONS))]
    by_reason = {r: counts[r] for r in order if r in counts}
    unknown = {
        r["field"]: int(r["n"])
        for r in lines.select(F.explode("unknown_fields").alias("field"))
        .groupBy("field")
        .agg(F.count("*").alias("n"))
        .collect()  # bounded: one row per field name the contract does not know
    }
    return per_file, {"valid": valid, "quarantined": sum(by_reason.values()), "by_reason": by_reason,
                      "unknown_fields": unknown}  # fmt: skip


def _source_log(checkpoint: str, batch_id: int) -> list[str]:
    """The files the stream's own log assigns to ``batch_id`` (``<checkpoint>/sources/0``).

    The file source writes each batch's file list there before the batch runs (every tenth batch
    file is a compaction holding all earlier entries): it is the list the batch stands for,
    including files a scan makes no row of.
    """
    import json

    folder = Path(checkpoint.removeprefix("file:")) / "sources" / "0"
    out: list[str] = []
    for name in (str(batch_id), f"{batch_id}.compact"):
        path = folder / name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            entry = json.loads(line)
            if int(entry.get("batchId", -1)) == batch_id:
                out.append(str(entry["path"]))
    return out


def _uri(path: str) -> str:
    """A file's name as the scan's rows give it: ``file:/x`` where lists say ``file:///x``."""
    return "file:/" + path.removeprefix("file:").lstrip("/") if path.startswith("file:") else path


def _listing(batch: DataFrame, checkpoint: str, batch_id: int) -> dict[str, dict[str, Any]]:
    """Every file of a micro-batch: path → length and modification time.

    A scan of the batch leaves out files it makes no split of (zero bytes) or cannot open, so the
    stream's own file list is the reference; what the scan misses is looked up on the file system
    (a file that cannot even be stat'ed is unreadable).
    """
    scanned = {
        r["path"]: {"length": r["length"], "modificationTime": r["modificationTime"]}
        for r in batch.select("path", "length", "modificationTime").collect()  # bounded: max_files_per_trigger
    }
    for listed in _source_log(checkpoint, batch_id):
        path = _uri(listed)
        if path in scanned:
            continue
        local = Path(path.removeprefix("file:")) if path.startswith(("file:", "/")) else None
        try:
            st = local.stat() if local is not None else None
        except OSError:
            st = None
        scanned[path] = {
            "length": st.st_size if st is not None else None,
            "modificationTime": datetime.fromtimestamp(st.st_mtime, UTC).replace(tzinfo=None) if st else None,
        }
    return scanned


def _committed(spark: SparkSession, settings: Settings, source: str, paths: list[str]) -> set[str]:
    """Files of ``paths`` the ledger already shows as ingested (after a lost or reset checkpoint)."""
    if not paths:
        return set()
    rows = (
        read_table(spark, FILES, settings)
        .where((F.col("source") == source) & F.col("path").isin(paths))
        .select("path")
        .distinct()
        .collect()  # bounded: at most the batch's files
    )
    done = {r["path"] for r in rows}
    if done:
        log.warning(
            "%s: %d files of this batch were ingested before (the checkpoint was reset); skipped", source, len(done)
        )
    return done


def _file_rows(
    spark: SparkSession,
    settings: Settings,
    source: str,
    checked: DataFrame,
    listed: dict[str, Any],
    committed: set[str],
    per_file: dict[str, tuple[int, int]],
) -> list[dict[str, Any]]:
    """One ledger row per file of the batch not ingested before: hash, lines, where they went, repeats."""
    decoded = {
        r["_source_file"]: r
        for r in checked.where(F.col("kind") == "file")
        .select(
            "_source_file", "file_size", "file_modified_at", "file_sha256", "file_lines", "file_reason", "file_error"
        )
        .collect()  # bounded: one row per file of the batch
    }
    shas = sorted({r["file_sha256"] for r in decoded.values() if r["file_sha256"] and not r["file_reason"]})
    earlier: dict[str, str] = {}
    if shas:
        for r in (
            read_table(spark, FILES, settings)
            .where((F.col("source") == source) & F.col("sha256").isin(shas) & (F.col("status") == "ingested"))
            .groupBy("sha256")
            .agg(F.min("path").alias("path"))
            .collect()  # bounded: at most one row per file of the batch
        ):
            earlier[r["sha256"]] = r["path"]
    out = []
    for path in sorted(listed):
        if path in committed:
            continue
        info = listed[path]
        d = decoded.get(path)
        if d is None:
            # Spark read no row of it: zero bytes (a scan makes no split of an empty file), or it could
            # not be opened at all (ignoreCorruptFiles / ignoreMissingFiles skipped it).
            empty = info["length"] == 0
            row = {
                "file_size": info["length"] or 0,
                "file_modified_at": info["modificationTime"],
                "file_sha256": None,
                "file_lines": 0,
                "file_reason": "empty_file" if empty else "unreadable",
                "file_error": "the file has 0 bytes" if empty else "the file could not be read",
            }
        else:
            row = {
                k: d[k]
                for k in ("file_size", "file_modified_at", "file_sha256", "file_lines", "file_reason", "file_error")
            }
        valid, quarantined = per_file.get(path, (0, 0))
        sha = row["file_sha256"]
        repeat = None
        if sha and not row["file_reason"]:
            repeat = earlier.get(sha)
            if repeat is None:
                earlier[sha] = path  # a later file of the same batch with this content repeats this one
        out.append(
            {
                "path": path,
                **row,
                "valid": valid,
                "quarantined": quarantined,
                "status": "quarantined" if row["file_reason"] else "ingested",
                "duplicate_of": repeat,
            }
        )
    return out


def _ledger_frame(
    spark: SparkSession, rows: list[dict[str, Any]], source: str, meta: tuple[str, int, datetime]
) -> DataFrame:
    run_id, batch_id, started = meta
    schema = (
        "source string, path string, size long, modified_at timestamp, sha256 string, lines long, valid long, "
        "quarantined long, status string, file_reason string, file_error string, duplicate_of string, "
        "ingest_date date, _ingested_at timestamp, _run_id string, _batch_id long"
    )
    data = [
        (source, r["path"], r["file_size"], r["file_modified_at"], r["file_sha256"], r["file_lines"], r["valid"],
         r["quarantined"], r["status"], r["file_reason"], r["file_error"], r["duplicate_of"], started.date(),
         started, run_id, batch_id)
        for r in rows
    ]  # fmt: skip
    return spark.createDataFrame(data, schema)


def _checkpoint(source: str, settings: Settings) -> str:
    return f"{str(settings['paths']['checkpoints']).rstrip('/')}/bronze/{source}"


def unknown_folders(settings: Settings) -> dict[str, int]:
    """Folders in the landing root that no configured source reads, with their file counts."""
    root = str(settings["paths"]["landing"])
    if "://" in root:
        return {}
    known = {folder_name(s, settings) for s in settings["ingest"]["sources"]}
    out: dict[str, int] = {}
    base = Path(root)
    if not base.is_dir():
        return out
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if folder.name not in known:
            out[folder.name] = sum(1 for f in folder.rglob("*") if f.is_file())
    return out


def ingest_source(
    spark: SparkSession,
    source: str,
    settings: Settings,
    run_id: str | None = None,
    fail_after: str | None = None,
) -> IngestReport:
    """Ingest every landing file (or Kafka record) of ``source`` not ingested yet, then stop.

    ``fail_after="events"`` makes the first batch die after its first write (tests only).
    """
    run_id = run_id or f"manual__{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    start_query(spark, source, settings, run_id, fail_after).awaitTermination()
    return run_report(spark, source, run_id, settings)


def start_query(
    spark: SparkSession,
    source: str,
    settings: Settings,
    run_id: str,
    fail_after: str | None = None,
    every: str | None = None,
) -> StreamingQuery:
    """Start the ingest query of ``source``: ``availableNow``, or one micro-batch ``every`` interval
    (e.g. ``"5 minutes"``) with whatever arrived since, until it is stopped."""
    from jobs.bronze import kafka

    if source not in event_sources():
        raise UserError(f"unknown source {source!r}; known: {', '.join(event_sources())}")
    for name in (EVENTS.format(source=source), QUARANTINE, QUARANTINE_FILES, FILES, RUNS):
        ensure_table(spark, name, settings)
    checkpoint = _checkpoint(source, settings)
    topic = kafka.topic_of(source, settings)
    done: dict[int, int] | None = None
    if topic is not None:
        stream = kafka.read_stream(spark, topic, settings)
        offsets = Path(checkpoint.removeprefix("file:")) / "offsets"
        # A new checkpoint starts the topic from its earliest record: skip what the ledger has.
        fresh = not offsets.is_dir() or not any(offsets.iterdir())
        done = kafka.ingested_offsets(spark, source, topic, settings, FILES) if fresh else {}
    else:
        landing = landing_folder(source, settings)
        if "://" not in landing:
            # A source that has delivered nothing yet is normal, not an error.
            Path(landing).mkdir(parents=True, exist_ok=True)
        stream = (
            spark.readStream.format("binaryFile")
            .schema(BINARY_FILE)
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", str(settings["ingest"]["file_glob"]))
            .option("maxFilesPerTrigger", int(settings["ingest"]["max_files_per_trigger"]))
            # A file Spark cannot read at all is left out of the batch's rows and quarantined as
            # unreadable by the batch writer, which lists the batch's files separately.
            .option("ignoreCorruptFiles", "true")
            .option("ignoreMissingFiles", "true")
            .load(landing)
        )
    writer = (
        stream.writeStream.queryName(f"detak_ingest_{source}")
        .foreachBatch(_batch_writer(spark, source, settings, run_id, fail_after, done))
        .option("checkpointLocation", checkpoint)
    )
    writer = writer.trigger(processingTime=every) if every else writer.trigger(availableNow=True)
    return writer.start()


def new_run_id() -> str:
    """The id of an ingest run started by hand (Airflow gives its own)."""
    return f"manual__{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"


def run_ingest(
    spark: SparkSession,
    sources: list[str],
    settings: Settings,
    run_id: str | None = None,
    every: str | None = None,
    warn_unknown: bool = True,
) -> list[IngestReport]:
    """Ingest ``sources`` one after the other, each under its lease; warn about landing folders no
    source reads (unless ``warn_unknown`` is off: a caller that ingests one source at a time warns
    once); write the run's summary where the Airflow task announcing new rows finds it."""
    from jobs.common.lock import hold

    run_id = run_id or new_run_id()
    for folder, files in (unknown_folders(settings) if warn_unknown else {}).items():
        log.warning(
            "landing folder %r (%d files) is not a configured source (ingest.sources): not ingested", folder, files
        )
        print(
            f"warning: landing folder {folder!r} ({files} files) is not a configured source; not ingested", flush=True
        )
    if every:
        return _run_continuously(spark, sources, settings, run_id, every)
    reports = []
    for source in sources:
        with hold(settings, [EVENTS.format(source=source), f"ingest:{source}"], f"ingest_{source}", run_id):
            print(f"ingest {source}: started", flush=True)
            report = ingest_source(spark, source, settings, run_id=run_id)
        write_summary(report, settings)
        reports.append(report)
    return reports


def _run_continuously(
    spark: SparkSession, sources: list[str], settings: Settings, run_id: str, every: str
) -> list[IngestReport]:
    """Every source's query at once, a micro-batch each ``every``, until one fails or Ctrl-C."""
    from jobs.common.lock import hold

    names = [n for s in sources for n in (EVENTS.format(source=s), f"ingest:{s}")]
    with hold(settings, names, "ingest", run_id):
        queries = [start_query(spark, s, settings, run_id, every=every) for s in sources]
        print(f"ingest {', '.join(sources)}: a micro-batch every {every}; stop with Ctrl-C", flush=True)
        try:
            spark.streams.awaitAnyTermination()
        except KeyboardInterrupt:
            print("ingest: stopping after the batches in flight", flush=True)
        finally:
            for q in queries:
                q.stop()
    reports = [run_report(spark, s, run_id, settings) for s in sources]
    for report in reports:
        write_summary(report, settings)
    return reports


def summary_path(settings: Settings, source: str, run_id: str) -> Path:
    """Where an ingest run leaves its totals for the task that announces new bronze rows."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in run_id)
    return Path(str(settings["paths"]["reports"])) / "ingest" / f"{safe}__{source}.json"


def write_summary(report: IngestReport, settings: Settings) -> None:
    import json

    path = summary_path(settings, report.source, report.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report.as_dict(), default=str))
    tmp.replace(path)


def run_report(spark: SparkSession, source: str, run_id: str, settings: Settings) -> IngestReport:
    """Totals of one run from ``bronze.ingest_runs`` (one small row per batch)."""
    rows = (
        read_table(spark, RUNS, settings)
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
        report.files_quarantined += r["files_quarantined"] or 0
        report.files_repeated += r["files_repeated"] or 0
        report.files_skipped += r["files_skipped"] or 0
        _add(report.by_reason, r["quarantined_by_reason"])
        _add(report.files_by_reason, r["files_quarantined_by_reason"])
        _add(report.unknown_fields, r["unknown_fields"])
    return report


def _add(into: dict[str, int], counts: dict[str, int] | None) -> None:
    for key, n in (counts or {}).items():
        into[key] = into.get(key, 0) + n


def format_reports(reports: list[IngestReport]) -> str:
    """A plain-text table of run totals, one line per source."""
    reasons = [r for r in REASONS if any(rep.by_reason.get(r) for rep in reports)]
    file_reasons = [r for r in FILE_REASONS if any(rep.files_by_reason.get(r) for rep in reports)]
    head = [
        "source",
        "batches",
        "files",
        "lines",
        "valid",
        "quarantined",
        *reasons,
        *[f"files {r}" for r in file_reasons],
    ]
    rows = [
        [
            rep.source,
            rep.batches,
            rep.files,
            rep.lines,
            rep.valid,
            rep.quarantined,
            *[rep.by_reason.get(r, 0) for r in reasons],
            *[rep.files_by_reason.get(r, 0) for r in file_reasons],
        ]
        for rep in reports
    ]
    out = format_table(head, rows)
    notes = []
    for rep in reports:
        if rep.files_repeated:
            notes.append(f"{rep.source}: {rep.files_repeated} files repeat the content of files ingested before")
        if rep.files_skipped:
            notes.append(f"{rep.source}: {rep.files_skipped} files skipped, already ingested (checkpoint reset)")
        if rep.unknown_fields:
            fields = ", ".join(f"{k} ({v})" for k, v in sorted(rep.unknown_fields.items()))
            notes.append(f"{rep.source}: fields the contract does not know, not kept: {fields}")
    return "\n".join([out, *notes])
