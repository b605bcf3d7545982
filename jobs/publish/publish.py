"""Write → audit → publish: only what the quality gate validated reaches the warehouse.

``gate_and_publish`` validates each table at its current Delta version (:func:`jobs.quality.gate.gate`)
and publishes exactly that version when no critical expectation failed. ``publish`` reads the Delta
table AT that version (``versionAsOf``), restricted to the dates asked (the dates a daily run
changed), loads it into a staging table and swaps it into the stable name in one transaction
(:mod:`jobs.publish.warehouse`). ``quality.publish_log`` records every publication; a date already
published from the same Delta version to the same target is skipped, so re-publishing is a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.tables import conform, ensure_table, read_table, table_path
from jobs.publish.warehouse import InjectedFailure, PublishError, Warehouse, staging_frame, warehouse
from jobs.quality.gate import RESULTS, GateResult, QualityGateError, delta_version, gate

log = logging.getLogger(__name__)

PUBLISH_LOG = "quality.publish_log"


class PublishBlocked(PublishError):
    """The version asked for has not passed the quality gate."""


@dataclass
class Ledger:
    """What publishing several tables needs to know, read once for all of them, and the
    publish_log rows they add, appended in one Delta commit (:func:`publish_many`).

    ``published``: (table, target) → date → latest published Delta version;
    ``verdicts``: (table, Delta version) → date → 1 when the version's last gate run passed the date.
    """

    published: dict[tuple[str, str], dict[date | None, int]] = field(default_factory=dict)
    verdicts: dict[tuple[str, int], dict[date | None, int]] = field(default_factory=dict)
    log_rows: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def read(cls, spark: SparkSession, versions: dict[str, int], target: str, settings: Settings) -> Ledger:
        """The ledger of ``versions`` (table → Delta version) on ``target``: two small reads."""
        ledger = cls()
        if not versions:
            return ledger
        for name in (PUBLISH_LOG, RESULTS):
            ensure_table(spark, name, settings)
        tables = sorted(versions)
        published = (
            read_table(spark, PUBLISH_LOG, settings)
            .where(F.col("table").isin(tables) & (F.col("target") == target))
            .groupBy("table", "date")
            .agg(F.max_by("delta_version", "published_at").alias("delta_version"))
            .collect()  # bounded: one row per table and date
        )
        for r in published:
            ledger.published.setdefault((r["table"], target), {})[r["date"]] = int(r["delta_version"])
        wanted = F.lit(False)
        for name, version in versions.items():
            wanted = wanted | ((F.col("table") == name) & (F.col("delta_version") == version))
        runs = (
            read_table(spark, RESULTS, settings)
            .where(wanted)
            .groupBy("table", "delta_version", "run_id", "run_at", "date")
            .agg(F.min(F.when(F.col("severity") == "critical", F.col("success").cast("int")).otherwise(1)).alias("ok"))
            .groupBy("table", "delta_version", "date")
            .agg(F.max_by("ok", "run_at").alias("ok"))
            .collect()  # bounded: one row per table and date
        )
        for r in runs:
            ledger.verdicts.setdefault((r["table"], int(r["delta_version"])), {})[r["date"]] = int(r["ok"])
        return ledger

    def append_log(self, spark: SparkSession, settings: Settings) -> None:
        """Record the publications made with this ledger in quality.publish_log (one commit)."""
        if not self.log_rows:
            return
        ensure_table(spark, PUBLISH_LOG, settings)
        frame = spark.createDataFrame(self.log_rows, schema=table(PUBLISH_LOG).spark_schema)
        conform(frame, PUBLISH_LOG).write.format("delta").mode("append").save(table_path(PUBLISH_LOG, settings))
        self.log_rows = []


def _gate_verdict(table_name: str, version: int, dates: list[date | None], verdict: dict[Any, int]) -> str | None:
    """None when the last gate run of ``version`` passed for every date, else why not."""
    if None in dates:
        # An unpartitioned table is gated as one batch, recorded under the run's last date.
        return None if verdict and verdict[max(verdict)] == 1 else f"{table_name}@v{version} has not passed the gate"
    missing = [str(d) for d in dates if d not in verdict]
    failed = [str(d) for d in dates if verdict.get(d) == 0]
    if missing or failed:
        return f"{table_name}@v{version}: dates not gated {missing}, dates failing the gate {failed}"
    return None


def publish(
    spark: SparkSession,
    table_name: str,
    dates: list[date],
    settings: Settings,
    target: str | None = None,
    *,
    version: int | None = None,
    require_gate: bool = True,
    fail_after: str | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Publish ``dates`` of ``table_name`` at Delta ``version`` (default: current) to ``target``.

    A date-partitioned table publishes only ``dates``; an unpartitioned one is published whole.
    With ``require_gate`` the version must have passed the quality gate for those dates
    (``quality.validation_results``). ``fail_after="staging"`` dies between loading the staging
    table and the swap (tests only). With a ``ledger`` (several tables published together), what
    was published and gated is read from it and the publication is recorded in it, for one
    publish_log append at the end; without, both happen here. Returns what was done.
    """
    contract = table(table_name)
    wh: Warehouse = warehouse(settings, target)
    path = table_path(table_name, settings)
    version = delta_version(spark, path) if version is None else version
    own = ledger is None
    if ledger is None:
        ledger = Ledger.read(spark, {table_name: version}, wh.name, settings)
    partitioned = bool(contract.partition_by)
    wanted: list[date | None] = sorted(set(dates)) if partitioned else [None]  # type: ignore[assignment]
    published = ledger.published.get((table_name, wh.name), {})
    todo = [d for d in wanted if published.get(d) != version]
    report: dict[str, Any] = {
        "table": table_name,
        "target": wh.name,
        "delta_version": version,
        "dates": [str(d) for d in todo if d is not None],
        "skipped": [str(d) for d in wanted if d not in todo and d is not None],
        "rows": 0,
        "status": "noop",
    }
    if not todo:
        log.info("%s@v%s already published to %s: nothing to do", table_name, version, wh.name)
        return report
    if require_gate:
        why = _gate_verdict(table_name, version, todo, ledger.verdicts.get((table_name, version), {}))
        if why:
            wh.record_status(contract, "blocked", version, why)
            raise PublishBlocked(f"not publishing {table_name} to {wh.name}: {why}")
    snapshot = spark.read.format("delta").option("versionAsOf", version).load(path)
    if partitioned:
        snapshot = snapshot.where(F.col(contract.partition_by[0]).isin([d for d in todo if d is not None]))
    stage = wh.stage_name(contract)
    wh.load_staging(staging_frame(snapshot, contract), contract, stage)
    if fail_after == "staging":
        raise InjectedFailure(f"injected failure between staging and swap of {table_name}")
    counts = snapshot.groupBy(contract.partition_by[0]).count()
    per_date = {r[0]: int(r[1]) for r in counts.collect()} if partitioned else {}  # bounded: one row per date
    rows = wh.swap(contract, stage, [d for d in todo if d is not None] if partitioned else None, version)
    wh.cleanup(stage)
    now = datetime.now(UTC).replace(tzinfo=None)
    ledger.log_rows.extend(
        (table_name, wh.name, d, version, per_date.get(d, 0) if partitioned else rows, now) for d in todo
    )
    ledger.published.setdefault((table_name, wh.name), {}).update({d: version for d in todo})
    if own:
        ledger.append_log(spark, settings)
    report.update(rows=rows, status="published")
    log.info("published %s@v%s to %s: %s rows, dates %s", table_name, version, wh.name, rows, report["dates"])
    return report


class PublishFailures(QualityGateError):
    """Some tables were blocked or failed to publish; ``results`` has every table's outcome."""

    def __init__(self, message: str, results: dict[str, Any]) -> None:
        super().__init__(message)
        self.results = results


def gate_and_publish(
    spark: SparkSession,
    tables: list[str],
    dates: list[date],
    settings: Settings,
    target: str | None = None,
) -> dict[str, Any]:
    """Gate then publish each table; one failing table does not block the others.

    Raises :class:`PublishFailures` at the end, naming every blocked or failed table, when any was.
    """
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    ledgers: list[Ledger] = []
    # One write session (Warehouse.session), the publish_log appended after it: a run that dies
    # inside it published nothing, and no log row says otherwise.
    with warehouse(settings, target).session():
        _gate_and_publish_each(spark, tables, dates, settings, target, results, failures, ledgers)
    for ledger in ledgers:
        ledger.append_log(spark, settings)
    if failures:
        listed = "\n".join(f"- {name}: {why}" for name, why in failures.items())
        raise PublishFailures(f"{len(failures)} of {len(tables)} tables not published:\n{listed}", results)
    return results


def _gate_and_publish_each(
    spark: SparkSession,
    tables: list[str],
    dates: list[date],
    settings: Settings,
    target: str | None,
    results: dict[str, Any],
    failures: dict[str, str],
    ledgers: list[Ledger],
) -> None:
    wh = warehouse(settings, target)
    for name in tables:
        try:
            checked: GateResult = gate(spark, name, dates, settings)
            entry: dict[str, Any] = {
                "gate": {
                    "passed": checked.passed,
                    "delta_version": checked.delta_version,
                    "failed_critical": [f"{o.date} {o.expectation}" for o in checked.failed_critical],
                    "warnings": [f"{o.date} {o.expectation}" for o in checked.warnings],
                    "seconds": checked.seconds,
                    "data_docs": checked.data_docs,
                }
            }
            results[name] = entry
            if not checked.passed:
                failures[name] = checked.message()
                wh.record_status(table(name), "blocked", checked.delta_version, failures[name])
                continue
            ledgers.append(Ledger.read(spark, {name: checked.delta_version}, wh.name, settings))
            entry["publish"] = publish(
                spark, name, dates, settings, target, version=checked.delta_version, ledger=ledgers[-1]
            )
        except Exception as exc:  # one table's failure must not stop the others
            log.exception("publishing %s failed", name)
            results.setdefault(name, {})["error"] = f"{type(exc).__name__}: {exc}"
            failures[name] = f"{type(exc).__name__}: {exc}"


def run_sql(settings: Settings, sql: str, target: str | None = None) -> list[tuple[Any, ...]]:
    """Run a query on the warehouse (``detak sql``) and return its rows."""
    return warehouse(settings, target).query(sql)
