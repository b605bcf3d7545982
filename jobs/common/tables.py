"""Where tables live and how they are created: every Delta table is made from its contract."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, cast

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.contracts import TableContract, table
from jobs.common.spark import built_once


def table_path(name: str, settings: Settings) -> str:
    """Storage path of a lake table, e.g. ``<lake>/bronze/quarantine``."""
    lake = str(settings["paths"]["lake"]).rstrip("/")
    return f"{lake}/{table(name).path}"


#: Paths whose table properties this process has already checked against their contract.
_PROPERTIES_CHECKED: set[str] = set()


class _Lazy:
    """A DeltaTable made on first use: most callers of :func:`ensure_table` only need the table to
    exist, and loading a table's snapshot costs Spark jobs."""

    def __init__(self, spark: SparkSession, path: str) -> None:
        self._spark, self._path = spark, path
        self._table: DeltaTable | None = None

    def __getattr__(self, name: str) -> Any:
        if self._table is None:
            self._table = DeltaTable.forPath(self._spark, self._path)
        return getattr(self._table, name)


def ensure_table(
    spark: SparkSession, name: str, settings: Settings | None = None, path: str | None = None
) -> DeltaTable:
    """Create the Delta table from its contract if it does not exist yet (idempotent).

    It lives at ``path`` when given, else where ``settings`` put the lake.
    """
    contract: TableContract = table(name)
    if path is None:
        if settings is None:
            raise ValueError("ensure_table needs settings or a path")
        path = table_path(name, settings)
    local = "://" not in path or path.startswith("file:")
    if local:
        log_dir = Path(path.removeprefix("file:")) / "_delta_log"
        if (
            log_dir.is_dir()
            and any(log_dir.glob("*.json"))
            and (not contract.properties or path in _PROPERTIES_CHECKED)
        ):
            # It exists (a Delta table's log holds at least its first commit): nothing to create.
            return cast(DeltaTable, _Lazy(spark, path))
        Path(path.removeprefix("file:")).parent.mkdir(parents=True, exist_ok=True)
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        # Over Spark Connect the DeltaTable builder needs Delta's Connect plugin on the server;
        # the same table made with SQL needs nothing but Delta itself.
        spark.sql(_create_sql(contract, path))
        return DeltaTable.forPath(spark, path)
    builder = (
        DeltaTable.createIfNotExists(spark)
        .location(path)
        .addColumns(contract.spark_schema)
        .comment(f"{contract.description} Grain: {contract.grain}.")
    )
    if contract.partition_by:
        builder = builder.partitionedBy(*contract.partition_by)
    for key, value in contract.properties.items():
        builder = builder.property(key, value)
    delta = builder.execute()
    if contract.properties and path not in _PROPERTIES_CHECKED:
        _PROPERTIES_CHECKED.add(path)
        # A table made before the contract gained a property gets it now (from this version on).
        have = delta.detail().select("properties").first()[0] or {}  # type: ignore[index]
        missing = {k: v for k, v in contract.properties.items() if have.get(k) != v}
        if missing:
            props = ", ".join(f"'{k}' = '{v}'" for k, v in missing.items())
            spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({props})")
    return delta


def _create_sql(contract: TableContract, path: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a contract at ``path``: what the DeltaTable builder makes."""

    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    columns = ", ".join(
        f"`{f.name}` {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}"
        + (f" COMMENT {quoted(f.metadata['comment'])}" if f.metadata.get("comment") else "")
        for f in contract.spark_schema.fields
    )
    partitions = f" PARTITIONED BY ({', '.join(contract.partition_by)})" if contract.partition_by else ""
    comment = quoted(f"{contract.description} Grain: {contract.grain}.")
    props = ", ".join(f"{quoted(k)} = {quoted(v)}" for k, v in contract.properties.items())
    properties = f" TBLPROPERTIES ({props})" if props else ""
    return (
        f"CREATE TABLE IF NOT EXISTS delta.`{path}` ({columns}) USING delta{partitions} COMMENT {comment}{properties}"
    )


def add_missing_columns(spark: SparkSession, name: str, settings: Settings) -> list[str]:
    """Bring a table made under an older contract up to date: add the contract's columns it lacks.

    Added columns are nullable; rows written before hold null there. Returns the names added.
    """
    ensure_table(spark, name, settings)
    path = table_path(name, settings)
    have = set(spark.read.format("delta").load(path).schema.fieldNames())
    missing = [f for f in table(name).spark_schema.fields if f.name not in have]
    if missing:
        cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({cols})")
    return [f.name for f in missing]


def read_table(spark: SparkSession, name: str, settings: Settings) -> DataFrame:
    return spark.read.format("delta").load(table_path(name, settings))


def conform(df: DataFrame, name: str) -> DataFrame:
    """Select the contract's columns in the contract's order, cast to the contract's types."""
    schema = table(name).spark_schema
    columns = built_once(
        ("conform", name, schema.simpleString()),
        lambda: [F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields],
    )
    return df.select(columns)


def replace_dates(df: DataFrame, name: str, start: date, end: date, settings: Settings) -> None:
    """Atomically replace the partitions ``start``..``end`` of a date-partitioned table.

    One Delta transaction (``replaceWhere`` on the contract's partition column): readers see the
    old dates or the new ones, and rows of ``df`` outside the range fail the write rather than
    land silently.
    """
    contract = table(name)
    if len(contract.partition_by) != 1:
        raise ValueError(f"{name} is not partitioned by one date column")
    col = contract.partition_by[0]
    (
        conform(df, name)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"{col} >= '{start}' AND {col} <= '{end}'")
        .save(table_path(name, settings))
    )


def replace_partitions(df: DataFrame, name: str, dates: Iterable[date], settings: Settings) -> None:
    """Atomically replace the partitions ``dates`` (any set, contiguous or not) of a date-partitioned
    table, in one Delta transaction (``replaceWhere`` ``IN``): readers see the old dates or the new
    ones, and rows of ``df`` outside them fail the write rather than land silently."""
    from jobs.common.dates import sql_in_dates

    wanted = sorted(set(dates))
    if not wanted:
        return
    contract = table(name)
    if len(contract.partition_by) != 1:
        raise ValueError(f"{name} is not partitioned by one date column")
    (
        conform(df, name)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", sql_in_dates(contract.partition_by[0], wanted))
        .save(table_path(name, settings))
    )


def delta_version(spark: SparkSession, path: str) -> int:
    """The current version of the Delta table at ``path``.

    On a local file system it is the newest commit file's number (no Spark job); elsewhere the
    table's history says it.
    """
    if "://" not in path or path.startswith("file:"):
        log_dir = Path(path.removeprefix("file:")) / "_delta_log"
        numbers = [int(p.name[:20]) for p in log_dir.glob("*.json") if p.name[:20].isdigit()]
        if numbers:
            return max(numbers)
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    if row is None:
        raise ValueError(f"no Delta history at {path}")
    return int(row[0])
