"""The incremental manifest: which input versions each job consumed and which dates it rewrote.

Every incremental job run follows the same three steps:

1. :func:`plan` reads, for each input table, the Delta version the job's last run consumed (from
   ``ops.manifest``) and the table's version now. For a bronze table (append-only, Delta's change
   data feed on) the dates touched since are the ``event_date`` of the rows inserted in between,
   whatever their age; for a table an upstream job writes they are the dates that job's manifest
   rows say it rewrote in between. An input never consumed counts as wholly new.
2. The job rewrites exactly those dates (plus the context its rules need), reading each input at
   the planned version, so rows that arrive meanwhile wait for the next run.
3. :func:`record` appends one row per input (the version consumed, and the dates left for a later
   run) and one per output (the version committed and the dates rewritten), in one commit, after
   every output is written. A run that dies before that left no record: the next run plans the
   same dates again, and since every write replaces whole partitions, redoing them is harmless.

A run whose plan has nothing to do writes nothing and records nothing: it costs a few small reads.
Only inserted rows make a date dirty: deletions (retention, erasure) are handled by the jobs that
make them, so dropping old bronze partitions never empties the silver dates built from them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.dates import as_date, describe
from jobs.common.tables import conform, delta_version, ensure_table, table_path

log = logging.getLogger(__name__)

MANIFEST = "ops.manifest"
INPUT, OUTPUT = "input", "output"


def read_at(spark: SparkSession, name: str, settings: Settings, version: int) -> DataFrame:
    """Table ``name`` as of Delta ``version``."""
    return spark.read.format("delta").option("versionAsOf", version).load(table_path(name, settings))


def date_column(name: str) -> str:
    """The one date partition column of table ``name``."""
    parts = table(name).partition_by
    if len(parts) != 1:
        raise ValueError(f"{name} is not partitioned by one date column")
    return parts[0]


def is_append_only(name: str) -> bool:
    """Bronze event tables only grow (plus retention and erasure deletes): their change feed says
    which rows are new. Every other input is rewritten by partition and says so in the manifest."""
    return name.startswith("bronze.") and name.endswith("_events")


def inserted_rows(spark: SparkSession, name: str, settings: Settings, after: int | None, upto: int) -> DataFrame:
    """Rows inserted into append-only ``name`` after version ``after`` up to ``upto`` (all rows at
    ``upto`` when ``after`` is None), read from Delta's change data feed."""
    if after is None:
        return read_at(spark, name, settings, upto)
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after + 1)
        .option("endingVersion", upto)
        .load(table_path(name, settings))
    )
    return changes.where(F.col("_change_type") == "insert").drop("_change_type", "_commit_version", "_commit_timestamp")


def _distinct_dates(df: DataFrame, column: str) -> set[date]:
    rows = df.select(column).where(F.col(column).isNotNull()).distinct().collect()  # bounded: one row per date
    return {as_date(r[0]) for r in rows}


@dataclass
class Plan:
    """What a job run is to do: the versions it reads and the dates each input changed."""

    job: str
    run_date: date
    run_id: str
    #: Input table → the version this run reads (and, once recorded, has consumed).
    versions: dict[str, int]
    #: Input table → the version the last recorded run consumed (absent: never consumed).
    consumed: dict[str, int]
    #: Input table → dates with changes since the consumed version (every date when never consumed).
    changed: dict[str, set[date]] = field(default_factory=dict)
    #: Dates an earlier run left for later (they were after its run date).
    pending: set[date] = field(default_factory=set)
    #: Run date of the job's last recorded run (None before the first).
    last_run_date: date | None = None

    @property
    def first_run(self) -> bool:
        return not self.consumed

    def dates(self, *tables: str) -> set[date]:
        """Dates changed in ``tables`` (all inputs when none is named), with the pending ones."""
        names = tables or tuple(self.changed)
        out = set(self.pending)
        for name in names:
            out |= self.changed.get(name, set())
        return out

    def as_of_dates(self, changed: set[date]) -> set[date]:
        """As-of dates of a point-in-time table (a row of as_of_date A holds data before A) to write.

        A changed date d can change every row after it (their windows reach back over it), so the
        dates after the earliest changed one, up to run_date + 1; and every as-of date that has come
        due since the last run (run date + 1 moved on), whether or not data changed.
        """
        last = self.run_date + timedelta(days=1)
        out: set[date] = set()
        if changed:
            first = min(changed) + timedelta(days=1)
            out |= {first + timedelta(days=i) for i in range((last - first).days + 1)}
        if self.last_run_date is None or self.run_date > self.last_run_date:
            due = last if self.last_run_date is None else self.last_run_date + timedelta(days=2)
            out |= {due + timedelta(days=i) for i in range((last - due).days + 1)}
        return out

    def has_news(self) -> bool:
        """An input changed since the last run, or dates are pending: a run that then finds nothing
        to rewrite still records what it consumed. (A new run date alone changes nothing.)"""
        return bool(self.pending) or any(self.versions[t] != self.consumed.get(t) for t in self.versions)

    def new_rows(self, spark: SparkSession, name: str, settings: Settings) -> DataFrame:
        """Rows inserted into append-only input ``name`` since the consumed version (up to the planned one)."""
        return inserted_rows(spark, name, settings, self.consumed.get(name), self.versions[name])

    def read(self, spark: SparkSession, name: str, settings: Settings) -> DataFrame:
        """Input ``name`` at the version this run plans with."""
        return read_at(spark, name, settings, self.versions[name])


def _manifest(spark: SparkSession, settings: Settings) -> DataFrame:
    ensure_table(spark, MANIFEST, settings)
    return spark.read.format("delta").load(table_path(MANIFEST, settings))


def last_consumed(spark: SparkSession, settings: Settings, job: str) -> tuple[dict[str, int], set[date], date | None]:
    """Input versions the last recorded run of ``job`` consumed, the dates it left pending, its run date."""
    rows = (
        _manifest(spark, settings)
        .where((F.col("job") == job) & (F.col("role") == INPUT))
        .groupBy("table")
        .agg(F.max_by(F.struct("version", "dates", "run_date"), "recorded_at").alias("last"))
        .collect()  # bounded: one row per input table of the job
    )
    consumed = {r["table"]: int(r["last"]["version"]) for r in rows}
    pending = {as_date(d) for r in rows for d in (r["last"]["dates"] or [])}
    run_dates = [as_date(r["last"]["run_date"]) for r in rows]
    return consumed, pending, max(run_dates) if run_dates else None


def upstream_dates(spark: SparkSession, settings: Settings, name: str, after: int, upto: int) -> set[date]:
    """Dates the jobs writing ``name`` recorded as rewritten in versions ``after`` < v <= ``upto``.

    A version without a manifest row changed no date a consumer must redo: OPTIMIZE changes no
    data, erasure cleans every layer itself, and a job that died before recording is re-run, which
    rewrites its dates again in a later, recorded version.
    """
    rows = (
        _manifest(spark, settings)
        .where((F.col("role") == OUTPUT) & (F.col("table") == name))
        .where((F.col("version") > after) & (F.col("version") <= upto))
        .select("version", "dates")
        .collect()  # bounded: one row per upstream run since the last one consumed
    )
    out: set[date] = set()
    for r in rows:
        out |= {as_date(d) for d in (r["dates"] or [])}
    return out


def plan(
    spark: SparkSession,
    settings: Settings,
    job: str,
    run_date: date,
    inputs: Iterable[str],
    run_id: str | None = None,
) -> Plan:
    """Plan a run of ``job`` over ``inputs``: versions to read and the dates changed since the last run."""
    inputs = list(inputs)
    for name in inputs:
        ensure_table(spark, name, settings)
    consumed, pending, last_run_date = last_consumed(spark, settings, job)
    versions = {name: delta_version(spark, table_path(name, settings)) for name in inputs}
    p = Plan(
        job=job,
        run_date=run_date,
        run_id=run_id or new_run_id(),
        versions=versions,
        consumed={k: v for k, v in consumed.items() if k in versions},
        pending=pending,
        last_run_date=last_run_date,
    )
    for name in inputs:
        before, now = p.consumed.get(name), versions[name]
        if before == now:
            p.changed[name] = set()
            continue
        col = date_column(name)
        if before is None or before > now:  # never consumed, or the table was recreated since
            p.consumed.pop(name, None)
            p.changed[name] = _distinct_dates(read_at(spark, name, settings, now), col)
        elif is_append_only(name):
            try:
                p.changed[name] = _distinct_dates(p.new_rows(spark, name, settings), col)
            except Exception as exc:  # the change feed of that range is gone (log retention) or off
                log.warning("%s: no change feed from version %s (%s); every date counts as changed", name, before, exc)
                p.consumed.pop(name)
                p.changed[name] = _distinct_dates(read_at(spark, name, settings, now), col)
        else:
            p.changed[name] = upstream_dates(spark, settings, name, before, now)
    log.info("%s plan: %s", job, {k: describe(v) for k, v in p.changed.items()})
    return p


def record(
    spark: SparkSession,
    settings: Settings,
    p: Plan,
    outputs: Mapping[str, Iterable[date]],
    pending: Iterable[date] = (),
    rows: Mapping[str, int] | None = None,
) -> None:
    """Append the run's manifest rows in one commit: inputs consumed (with the dates left pending)
    and outputs written (their version now and the dates rewritten)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    left = sorted(set(pending))
    out_rows: list[tuple[Any, ...]] = [
        (p.run_id, p.job, p.run_date, now, INPUT, name, version, left, None) for name, version in p.versions.items()
    ]
    for name, dates in outputs.items():
        version = delta_version(spark, table_path(name, settings))
        out_rows.append(
            (p.run_id, p.job, p.run_date, now, OUTPUT, name, version, sorted(set(dates)), (rows or {}).get(name))
        )
    frame = spark.createDataFrame(out_rows, schema=table(MANIFEST).spark_schema)
    ensure_table(spark, MANIFEST, settings)
    conform(frame, MANIFEST).write.format("delta").mode("append").save(table_path(MANIFEST, settings))


def new_run_id() -> str:
    return f"manual__{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
