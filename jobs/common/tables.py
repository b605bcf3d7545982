"""Where tables live and how they are created: every Delta table is made from its contract."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from jobs.common.config import Settings
from jobs.common.contracts import TableContract, table


def table_path(name: str, settings: Settings) -> str:
    """Storage path of a lake table, e.g. ``<lake>/bronze/quarantine``."""
    lake = str(settings["paths"]["lake"]).rstrip("/")
    return f"{lake}/{table(name).path}"


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
    if not path.startswith(("s3", "gs", "abfs", "hdfs")):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
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
    return builder.execute()


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
    return f"CREATE TABLE IF NOT EXISTS delta.`{path}` ({columns}) USING delta{partitions} COMMENT {comment}"


def read_table(spark: SparkSession, name: str, settings: Settings) -> DataFrame:
    return spark.read.format("delta").load(table_path(name, settings))


def conform(df: DataFrame, name: str) -> DataFrame:
    """Select the contract's columns in the contract's order, cast to the contract's types."""
    schema = table(name).spark_schema
    return df.select([df[f.name].cast(f.dataType).alias(f.name) for f in schema.fields])


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
