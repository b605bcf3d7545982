"""OPTIMIZE, VACUUM and retention change files, never rows, except the rows past retention."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.tables import table_path
from jobs.maintenance.housekeeping import run_maintenance
from jobs.maintenance.lake import existing_tables
from tests.conftest import copy_home, sim_settings

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 16)
FIRST_KEPT = date(2026, 11, 10)  # TODAY - 6 days


def _rows_as_text(df: DataFrame) -> DataFrame:
    return df.select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias("row"))


def test_maintenance_keeps_every_row_but_those_past_retention(
    spark: SparkSession, sim_home: Path, tmp_path: Path
) -> None:
    home = copy_home(sim_home, tmp_path / "home")
    shutil.copytree(sim_home / "landing", home / "landing")
    settings = sim_settings(home, maintenance={"bronze_retention_days": 6, "landing_retention_days": 6})
    # The copied ledger names the shared home's landing files; landing retention deletes only files
    # the ledger shows as ingested, so it must name this home's copies.
    shared, mine = f"{sim_home.resolve()}/landing/", f"{home.resolve()}/landing/"
    DeltaTable.forPath(spark, table_path("bronze.ingest_files", settings)).update(
        set={"path": F.replace(F.col("path"), F.lit(shared), F.lit(mine))}
    )
    tables = existing_tables(spark, settings)
    versions = {c.name: DeltaTable.forPath(spark, p).history(1).first()["version"] for c, p in tables}  # type: ignore[index]
    landing_days = {p.name for p in (home / "landing").glob("*/date=*")}
    assert "date=2026-11-09" in landing_days

    result = run_maintenance(spark, settings, today=TODAY)

    expected_retention = {
        "bronze.clickstream_events": "event_date",
        "bronze.orders_events": "event_date",
        "bronze.search_events": "event_date",
        "bronze.quarantine": "ingest_date",
        # The ingestion ledgers go with the rows they account for, so that reconciliation still
        # balances over every date kept.
        "bronze.ingest_files": "ingest_date",
        "bronze.quarantine_files": "ingest_date",
    }
    assert {n: m["retention_column"] for n, m in result["tables"].items() if "retention_column" in m} == (
        expected_retention
    )
    assert set(result["tables"]) == {c.name for c, _ in tables}
    for contract, path in tables:
        # The version before maintenance is still there: VACUUM keeps a week of history.
        before = spark.read.format("delta").option("versionAsOf", versions[contract.name]).load(path)
        col = expected_retention.get(contract.name)
        if col is not None:
            assert result["tables"][contract.name]["rows_deleted"] == before.where(F.col(col) < FIRST_KEPT).count()
            before = before.where(F.col(col) >= FIRST_KEPT)
        now, then = _rows_as_text(spark.read.format("delta").load(path)), _rows_as_text(before)
        assert now.exceptAll(then).count() == 0, contract.name
        assert then.exceptAll(now).count() == 0, contract.name
    # Every date of the simulated days before the cut is gone; at least one table lost rows to it.
    assert result["tables"]["bronze.clickstream_events"]["rows_deleted"] > 0

    events = result["tables"]["silver.events"]
    assert events["zorder_by"] == ["anonymous_id", "event_type"]
    assert events["files_after"] <= events["files_before"]
    ops = DeltaTable.forPath(spark, dict((c.name, p) for c, p in tables)["silver.events"]).history().collect()
    assert any(r["operation"] == "OPTIMIZE" and "anonymous_id" in r["operationParameters"]["zOrderBy"] for r in ops)

    assert {p.name for p in (home / "landing").glob("*/date=*")} == {d for d in landing_days if d >= "date=2026-11-10"}
    assert result["landing"]["folders_deleted"] > 0
