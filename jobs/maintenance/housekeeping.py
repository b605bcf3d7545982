"""Weekly housekeeping of the lake: retention of raw data, OPTIMIZE with Z-order, VACUUM.

Rules (conf ``maintenance``):

- **Forget requests again** (``forget.reapply_on_maintenance``): people recorded in
  ``maintenance.forget_requests`` are erased again, from data that arrived after their request.
- **Retention** of raw data: every bronze table partitioned by one date column (the event tables by
  ``event_date``, ``bronze.quarantine`` by ``ingest_date``) loses the partitions older than
  ``bronze_retention_days`` before ``today``: a DELETE on the partition column only, which Delta
  carries out by dropping whole files without reading them. In landing date folders
  (``<landing>/<source>/date=YYYY-MM-DD``) older than ``landing_retention_days``, the files the
  ingestion ledger (``bronze.ingest_files``) shows as committed are deleted; a file never ingested
  is kept and reported, whatever its age. Silver and later layers keep their history: they hold
  pseudonyms, not raw ids (and silver never rewrites a date older than bronze's retention).
- Each table is compacted and vacuumed under its lease (:mod:`jobs.common.lock`), so no job writes
  it meanwhile.
- **OPTIMIZE** every existing lake table: Z-order by the contract's ``zorder_by`` when it names
  columns, plain compaction otherwise; it rewrites small files into large ones without changing
  a row.
- **VACUUM** every table with ``vacuum_retention_hours``: files no version of the last that many
  hours needs are deleted (time travel reaches that far back).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.bronze.ingest import folder_name
from jobs.common.config import Settings
from jobs.common.contracts import TableContract
from jobs.common.lock import hold
from jobs.common.tables import ensure_table, read_table
from jobs.maintenance.forget import reapply_forget_requests
from jobs.maintenance.lake import existing_tables, last_operation_metrics, version

log = logging.getLogger(__name__)

#: Days beyond silver.late_days that a silver run still reads bronze for: the context day on each
#: side of a rewritten date, and the logical date being yesterday when the run starts.
SILVER_EXTRA_DAYS = 3


def retention_column(contract: TableContract) -> str | None:
    """The date partition column retention deletes by: bronze tables partitioned by one date only."""
    if contract.layer != "bronze" or len(contract.partition_by) != 1:
        return None
    col = contract.partition_by[0]
    kind = next(c.type for c in contract.columns if c.name == col)
    return col if kind.lower() == "date" else None


def cutoff(today: date, days: int) -> date:
    """First date kept: partitions strictly before it are past retention."""
    return today - timedelta(days=days)


def check_params(settings: Settings) -> dict[str, Any]:
    params = dict(settings["maintenance"])
    need = int(settings["silver"]["late_days"]) + SILVER_EXTRA_DAYS
    for key in ("bronze_retention_days", "landing_retention_days"):
        if int(params[key]) < need:
            raise ValueError(
                f"maintenance.{key} = {params[key]} would delete raw data the daily silver job still reads "
                f"(silver.late_days + {SILVER_EXTRA_DAYS} = {need})"
            )
    return params


def old_landing_folders(landing: Path, first_kept: date) -> list[Path]:
    """``<landing>/<source>/date=YYYY-MM-DD`` folders older than ``first_kept``."""
    out = []
    for folder in sorted(landing.glob("*/date=*")):
        try:
            day = date.fromisoformat(folder.name.removeprefix("date="))
        except ValueError:
            continue  # not a date folder: not ours to delete
        if folder.is_dir() and day < first_kept:
            out.append(folder)
    return out


def delete_landing(spark: SparkSession, settings: Settings, first_kept: date) -> dict[str, Any]:
    """Delete the committed landing files of date folders older than ``first_kept``; keep the others."""
    landing = str(settings["paths"]["landing"])
    if "://" in landing:
        log.warning("landing retention is not applied to object storage (%s): use a bucket lifecycle rule", landing)
        return {"folders_deleted": 0, "files_deleted": 0, "files_kept_not_ingested": 0}
    folders = old_landing_folders(Path(landing), first_kept)
    candidates = [p for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()]
    # A folder several sources read (ingest.folders) is kept until every one of them has its files.
    readers: dict[str, set[str]] = {}
    for source in settings["ingest"]["sources"]:
        readers.setdefault(folder_name(source, settings), set()).add(source)
    committed: dict[str, set[str]] = {}
    if candidates:
        ensure_table(spark, "bronze.ingest_files", settings)
        wanted = [str(p.resolve()) for p in candidates]
        local = F.regexp_replace(F.col("path"), "^file:/+", "/")
        for r in (
            read_table(spark, "bronze.ingest_files", settings)
            .select(local.alias("local"), "source")
            .where(F.col("local").isin(wanted))
            .distinct()
            .collect()  # bounded: the old folders' files, once per source
        ):
            committed.setdefault(r["local"], set()).add(r["source"])
    deleted, kept = 0, []
    root = Path(landing).resolve()
    for path in candidates:
        top = path.resolve().relative_to(root).parts[0]
        if readers.get(top, {top}) <= committed.get(str(path.resolve()), set()):
            path.unlink()
            deleted += 1
        else:
            kept.append(str(path))
    if kept:
        log.warning("landing retention kept %d files never ingested, e.g. %s", len(kept), kept[0])
    removed = 0
    for folder in folders:
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
            if not any(sub.iterdir()):
                sub.rmdir()
        if not any(folder.iterdir()):
            folder.rmdir()
            removed += 1
    return {"folders_deleted": removed, "files_deleted": deleted, "files_kept_not_ingested": len(kept)}


def _num_files(table: DeltaTable) -> int:
    row = table.detail().select("numFiles").first()
    return int(row[0]) if row is not None and row[0] is not None else 0


def run_maintenance(spark: SparkSession, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Forget again, retention, OPTIMIZE and VACUUM on every existing lake table; metrics per table.

    ``today`` (default: the UTC date now) anchors retention; the Airflow DAG passes its logical date.
    """
    params = check_params(settings)
    today = today or datetime.now(UTC).date()
    result: dict[str, Any] = {"today": str(today), "tables": {}}
    if params["forget"]["reapply_on_maintenance"]:
        result["forget"] = reapply_forget_requests(spark, settings)

    bronze_first_kept = cutoff(today, int(params["bronze_retention_days"]))
    landing_first_kept = cutoff(today, int(params["landing_retention_days"]))
    result["landing"] = {"first_kept": str(landing_first_kept), **delete_landing(spark, settings, landing_first_kept)}
    hours = float(params["vacuum_retention_hours"])

    for contract, path in existing_tables(spark, settings):
        with hold(settings, [contract.name], "maintenance"):
            result["tables"][contract.name] = _maintain_table(spark, contract, path, bronze_first_kept, hours)
    return result


def _maintain_table(
    spark: SparkSession, contract: TableContract, path: str, bronze_first_kept: date, hours: float
) -> dict[str, Any]:
    """Retention, OPTIMIZE and VACUUM of one table (its lease held by the caller); its metrics."""
    table = DeltaTable.forPath(spark, path)
    metrics: dict[str, Any] = {"files_before": _num_files(table)}
    col = retention_column(contract)
    if col is not None:
        old = F.col(col) < F.lit(bronze_first_kept)
        # Counted first: a delete of whole partitions does not always report rows.
        n = table.toDF().where(old).count()
        if n:
            table.delete(old)
        metrics.update(retention_column=col, first_kept=str(bronze_first_kept), rows_deleted=n)
    before = version(table)
    builder = table.optimize()
    if contract.zorder_by:
        builder.executeZOrderBy(*contract.zorder_by)
    else:
        builder.executeCompaction()
    changed = version(table) != before
    opt = last_operation_metrics(table) if changed else {}
    metrics.update(
        zorder_by=list(contract.zorder_by),
        optimize_files_added=int(opt.get("numAddedFiles", 0)),
        optimize_files_removed=int(opt.get("numRemovedFiles", 0)),
        files_after=_num_files(table),
    )
    table.vacuum(hours)
    vac = last_operation_metrics(table)
    metrics["vacuum_files_deleted"] = int(vac.get("numDeletedFiles", 0)) if "numDeletedFiles" in vac else None
    log.info("maintenance %s: %s", contract.name, metrics)
    return metrics
