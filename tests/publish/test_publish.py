"""Write → audit → publish to a real DuckDB file and a real PostgreSQL cluster."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.publish.publish import PublishBlocked, PublishFailures, gate_and_publish, publish, run_sql
from jobs.publish.warehouse import InjectedFailure
from jobs.quality.gate import gate
from tests.conftest import ci_settings
from tests.quality.helpers import FUNNEL, extra_contracts, funnel_rows, postgres_cluster, write_funnel

DAY1 = date(2026, 11, 10)
DAY2 = date(2026, 11, 11)
COLUMNS = "date, channel, device_type, step, step_index, sessions, revenue"
QUERY = f"SELECT {COLUMNS} FROM test.funnel_daily ORDER BY date, channel, step_index"


def _expected(rows: list[tuple]) -> list[tuple]:
    """Rows as the warehouse query returns them (hand-built frames, not the code under test)."""
    out = [(r[0], r[1], r[2], r[5], r[6], r[7], r[8]) for r in rows]
    return sorted(out, key=lambda r: (r[0], r[1], r[4]))


def _scenario(spark: SparkSession, settings: Settings, target: str) -> None:
    day1 = funnel_rows(DAY1, [100, 60, 20, 5])
    day2_good = funnel_rows(DAY2, [80, 50, 10, 4])
    day2_rising = funnel_rows(DAY2, [80, 50, 90, 4])
    with extra_contracts():
        # A good day publishes, and the warehouse holds exactly the lake table's rows.
        write_funnel(spark, day1, DAY1, settings)
        done = gate_and_publish(spark, [FUNNEL], [DAY1], settings, target=target)
        assert done[FUNNEL]["publish"]["status"] == "published"
        assert done[FUNNEL]["publish"]["rows"] == 4
        assert run_sql(settings, QUERY, target) == _expected(day1)

        # Re-publishing the same version is a no-op (publish_log).
        again = publish(spark, FUNNEL, [DAY1], settings, target)
        assert again["status"] == "noop" and again["skipped"] == [str(DAY1)]

        # A corrupted day is blocked: the warehouse keeps the previous good data.
        write_funnel(spark, day2_rising, DAY2, settings)
        with pytest.raises(PublishFailures, match="funnel_non_increasing") as blocked:
            gate_and_publish(spark, [FUNNEL], [DAY2], settings, target=target)
        assert blocked.value.results[FUNNEL]["gate"]["failed_critical"] == [f"{DAY2} funnel_non_increasing"]
        assert run_sql(settings, QUERY, target) == _expected(day1)
        # Nor can it be published past the gate.
        with pytest.raises(PublishBlocked):
            publish(spark, FUNNEL, [DAY2], settings, target)

        # A run that dies between staging and swap leaves the warehouse readable and unchanged...
        write_funnel(spark, day2_good, DAY2, settings)
        checked = gate(spark, FUNNEL, [DAY2], settings)
        assert checked.passed
        with pytest.raises(InjectedFailure):
            publish(spark, FUNNEL, [DAY2], settings, target, version=checked.delta_version, fail_after="staging")
        assert run_sql(settings, QUERY, target) == _expected(day1)
        # ... and the re-run publishes only the changed date.
        rerun = publish(spark, FUNNEL, [DAY2], settings, target, version=checked.delta_version)
        assert rerun["status"] == "published" and rerun["dates"] == [str(DAY2)]
        assert run_sql(settings, QUERY, target) == _expected(day1 + day2_good)

        # Every table and column carries its description from the contract.
        _assert_comments(settings, target)


def _assert_comments(settings: Settings, target: str) -> None:
    if target == "duckdb":
        table_comment = run_sql(
            settings,
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'test' AND table_name = 'funnel_daily'",
            target,
        )
        column = run_sql(
            settings,
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'funnel_daily' AND column_name = 'sessions'",
            target,
        )
    else:
        table_comment = run_sql(settings, "SELECT obj_description('test.funnel_daily'::regclass)", target)
        column = run_sql(settings, "SELECT col_description('test.funnel_daily'::regclass, 8)", target)
    assert "minimal funnel-shaped table" in table_comment[0][0]
    assert column == [("Sessions that reached the step.",)]


def test_publish_to_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    settings = ci_settings(tmp_path / "home")
    _scenario(spark, settings, "duckdb")
    assert (tmp_path / "home" / "warehouse" / "detak.duckdb").exists()


def test_publish_to_postgres(spark: SparkSession, tmp_path: Path) -> None:
    with postgres_cluster(tmp_path) as pg:
        settings = ci_settings(tmp_path / "home", warehouse={"target": "postgres", "postgres": pg})
        _scenario(spark, settings, "postgres")


def test_unknown_target(tmp_path: Path) -> None:
    settings: Any = ci_settings(tmp_path / "home")
    from jobs.publish.warehouse import PublishError, warehouse

    with pytest.raises(PublishError, match="unknown warehouse target"):
        warehouse(settings, "oracle")
