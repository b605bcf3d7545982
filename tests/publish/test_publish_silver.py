"""Gate and publish real silver tables of the shared simulated data set to a DuckDB file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.tables import read_table, table_path
from jobs.publish.publish import PublishFailures, gate_and_publish, run_sql
from tests.conftest import copy_home, sim_settings

DAY = date(2026, 11, 10)


@pytest.mark.integration
def test_silver_publishes_and_a_duplicated_session_is_blocked(
    spark: SparkSession, sim_home: Path, tmp_path: Path
) -> None:
    home = copy_home(sim_home, tmp_path / "home")
    settings = sim_settings(home)
    done = gate_and_publish(spark, ["silver.sessions", "silver.reconciliation"], [DAY], settings)
    assert done["silver.sessions"]["publish"]["status"] == "published"
    assert done["silver.reconciliation"]["gate"]["failed_critical"] == []

    lake = read_table(spark, "silver.sessions", settings).where(F.col("session_date") == DAY)
    ids = sorted(r[0] for r in lake.select("session_id").collect())  # a few hundred ids of one test day
    published = run_sql(settings, f"SELECT session_id FROM silver.sessions WHERE session_date = DATE '{DAY}'")
    assert sorted(r[0] for r in published) == ids
    # Instants survive the trip: the same first session_start on both sides.
    first = lake.agg(F.min("session_start")).first()[0]  # type: ignore[index]
    (wh_first,) = run_sql(settings, "SELECT min(session_start)::TIMESTAMP FROM silver.sessions")[0]
    assert wh_first == first

    # A duplicated session id blocks the table, names the expectation and keeps the warehouse as it was.
    lake.limit(1).write.format("delta").mode("append").save(table_path("silver.sessions", settings))
    with pytest.raises(PublishFailures, match=r"key_unique\(session_id\)"):
        gate_and_publish(spark, ["silver.sessions"], [DAY], settings)
    assert run_sql(settings, "SELECT count(*) FROM silver.sessions")[0][0] == len(ids)
    failed = (
        read_table(spark, "quality.validation_results", settings)
        .where((F.col("table") == "silver.sessions") & ~F.col("success") & (F.col("severity") == "critical"))
        .select("expectation")
        .collect()
    )
    assert [r[0] for r in failed] == ["key_unique(session_id)"]
