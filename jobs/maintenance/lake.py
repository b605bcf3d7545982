"""The lake's tables as the contracts declare them, and the few Delta calls maintenance needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.common.contracts import TableContract, table_contracts
from jobs.common.tables import table_path

#: Session setting that stops VACUUM below the table's retention; lifted only for forget requests.
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def _is_remote(path: str) -> bool:
    return "://" in path


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at ``path`` (a table another job has not created yet does not)."""
    if not _is_remote(path):
        return (Path(path) / "_delta_log").is_dir()
    return bool(DeltaTable.isDeltaTable(spark, path))


def existing_tables(spark: SparkSession, settings: Settings) -> list[tuple[TableContract, str]]:
    """Every contract whose Delta table exists in the lake, with its path, by table name."""
    out = []
    for name, contract in sorted(table_contracts().items()):
        path = table_path(name, settings)
        if is_delta_table(spark, path):
            out.append((contract, path))
    return out


def column_names(contract: TableContract) -> set[str]:
    return {c.name for c in contract.columns}


def version(table: DeltaTable) -> int:
    return int(table.history(1).select("version").first()[0])  # type: ignore[index]


def last_operation_metrics(table: DeltaTable) -> dict[str, str]:
    """``operationMetrics`` of the table's latest commit (a small map of strings)."""
    row = table.history(1).select("operationMetrics").first()
    return dict(row[0] or {}) if row is not None else {}


def delete_counted(spark: SparkSession, path: str, condition: Any) -> int:
    """DELETE the rows matching ``condition``; the number of rows deleted (0 and no commit when none match)."""
    table = DeltaTable.forPath(spark, path)
    before = version(table)
    table.delete(condition)
    if version(table) == before:
        return 0
    metrics = last_operation_metrics(table)
    return int(metrics.get("numDeletedRows", 0))


def purge_deletion_vectors(spark: SparkSession, path: str) -> None:
    """Rewrite files that carry deletion vectors, so deleted rows leave the current files.

    With deletion vectors a DELETE only marks rows as gone and the Parquet file still holds them;
    erasure needs the rows out of the files, which REORG ... APPLY (PURGE) does. A no-op for
    tables without deletion vectors (the default here).
    """
    props = DeltaTable.forPath(spark, path).detail().select("properties").first()
    if props is not None and str((props[0] or {}).get("delta.enableDeletionVectors", "false")).lower() == "true":
        spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")


@contextmanager
def retention_check_lifted(spark: SparkSession) -> Iterator[None]:
    """Allow VACUUM below the table's retention for the duration of the block only."""
    previous = spark.conf.get(RETENTION_CHECK, "true")
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        yield
    finally:
        spark.conf.set(RETENTION_CHECK, previous or "true")
