"""Write → audit → publish to a real DuckDB file and a throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.publish.publish import PublishBlocked, PublishFailures, gate_and_publish, publish, run_sql
from jobs.publish.warehouse import InjectedFailure, PublishError, warehouse
from jobs.quality.gate import gate
from tests.conftest import ci_settings
from tests.quality.helpers import FUNNEL, extra_contracts, funnel_rows, pg_bin, postgres_cluster, write_funnel

DAY1 = date(2026, 11, 10)
DAY2 = date(2026, 11, 11)
COLUMNS = "date, channel, device_type, step, step_index, sessions, revenue"
QUERY = f"SELECT {COLUMNS} FROM test.funnel_daily ORDER BY date, channel, step_index"
STATUS = "SELECT status, delta_version, published_version, latest_date, row_count FROM quality.table_status"


def _expected(rows: list[tuple]) -> list[tuple]:
    """Rows as the warehouse query returns them (from the hand-built frames, not the code under test)."""
    out = [(r[0], r[1], r[2], r[5], r[6], r[7], r[8]) for r in rows]
    return sorted(out, key=lambda r: (r[0], r[1], r[4]))


@contextmanager
def _targets(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """DuckDB always; PostgreSQL too when its binaries are there (always in CI)."""
    if pg_bin() is None and not os.environ.get("CI"):
        yield ["duckdb"], {}
        return
    with postgres_cluster(tmp_path) as pg:
        yield ["duckdb", "postgres"], pg


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


def test_write_audit_publish(spark: SparkSession, tmp_path: Path) -> None:
    """One lake table, gated once per version, published to every target."""
    day1 = funnel_rows(DAY1, [100, 60, 20, 5])
    day2_rising = funnel_rows(DAY2, [80, 50, 90, 4])
    day2_good = funnel_rows(DAY2, [80, 50, 10, 4])
    with _targets(tmp_path) as (targets, pg), extra_contracts():
        settings = ci_settings(tmp_path / "home", warehouse={"postgres": pg} if pg else {})
        # A good day publishes, and each warehouse holds exactly the lake table's rows.
        write_funnel(spark, day1, DAY1, settings)
        done = gate_and_publish(spark, [FUNNEL], [DAY1], settings, target="duckdb")
        assert done[FUNNEL]["publish"]["status"] == "published"
        assert done[FUNNEL]["publish"]["rows"] == 4
        for target in targets[1:]:
            assert publish(spark, FUNNEL, [DAY1], settings, target)["status"] == "published"
        for target in targets:
            assert run_sql(settings, QUERY, target) == _expected(day1)
            # Re-publishing the same version is a no-op (publish_log).
            again = publish(spark, FUNNEL, [DAY1], settings, target)
            assert again["status"] == "noop" and again["skipped"] == [str(DAY1)]

        # A corrupted day is blocked: every warehouse keeps the previous good data.
        write_funnel(spark, day2_rising, DAY2, settings)
        with pytest.raises(PublishFailures, match="funnel_non_increasing") as blocked:
            gate_and_publish(spark, [FUNNEL], [DAY2], settings, target="duckdb")
        assert blocked.value.results[FUNNEL]["gate"]["failed_critical"] == [f"{DAY2} funnel_non_increasing"]
        v1 = done[FUNNEL]["publish"]["delta_version"]
        for target in targets:
            with pytest.raises(PublishBlocked):
                publish(spark, FUNNEL, [DAY2], settings, target)
            assert run_sql(settings, QUERY, target) == _expected(day1)
            # The warehouse says why, beside what its readers still see (the last good version).
            assert run_sql(settings, STATUS, target) == [("blocked", v1 + 1, v1, DAY1, 4)]
            (detail,) = run_sql(settings, "SELECT detail FROM quality.table_status", target)[0]
            assert f"dates failing the gate ['{DAY2}']" in detail

        # The fixed day passes; a run that dies between staging and swap leaves each warehouse
        # readable and unchanged, and the re-run publishes only the changed date.
        write_funnel(spark, day2_good, DAY2, settings)
        checked = gate(spark, FUNNEL, [DAY2], settings)
        assert checked.passed
        for target in targets:
            with pytest.raises(InjectedFailure):
                publish(spark, FUNNEL, [DAY2], settings, target, version=checked.delta_version, fail_after="staging")
            assert run_sql(settings, QUERY, target) == _expected(day1)
            rerun = publish(spark, FUNNEL, [DAY2], settings, target, version=checked.delta_version)
            assert rerun["status"] == "published" and rerun["dates"] == [str(DAY2)] and rerun["rows"] == 4
            assert run_sql(settings, QUERY, target) == _expected(day1 + day2_good)
            # Every table and column carries its description from the contract.
            _assert_comments(settings, target)

        # A warehouse table made before the contract gained its last column (revenue here) gets
        # the column from the next date-wise publication; the dates it does not replace keep
        # their rows, with null in the new column.
        day2_again = funnel_rows(DAY2, [80, 50, 10, 3])
        write_funnel(spark, day2_again, DAY2, settings)
        checked = gate(spark, FUNNEL, [DAY2], settings)
        for target in targets:
            wh = warehouse(settings, target)
            with wh.transaction() as cur:
                cur.execute("ALTER TABLE test.funnel_daily DROP COLUMN revenue")
            assert publish(spark, FUNNEL, [DAY2], settings, target, version=checked.delta_version)["rows"] == 4
            old_day = [(*r[:-1], None) for r in _expected(day1)]
            assert run_sql(settings, QUERY, target) == old_day + _expected(day2_again)
            v = checked.delta_version
            assert run_sql(settings, STATUS, target) == [("published", v, v, DAY2, 8)]
    assert (tmp_path / "home" / "warehouse" / "detak.duckdb").exists()


def test_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="unknown warehouse target"):
        warehouse(ci_settings(tmp_path / "home"), "oracle")


READER = """
import sys, duckdb
path = sys.argv[1]
sql = "SELECT COALESCE(SUM(sessions), 0) FROM test.funnel_daily"
held = duckdb.connect(path, read_only=True)
print(held.execute(sql).fetchone()[0], flush=True)
sys.stdin.readline()
print(held.execute(sql).fetchone()[0], flush=True)
held.close()  # in one process DuckDB shares a file's database while any connection to it is open
print(duckdb.connect(path, read_only=True).execute(sql).fetchone()[0], flush=True)
"""


def test_a_reader_holding_the_duckdb_file_neither_blocks_nor_sees_half_a_publish(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A BI tool's read-only connection, in its own process, stays open through a publish.

    DuckDB allows one writer or many readers on a file. The publish writes a copy and renames it
    over the file, so the open connection keeps its view, the publish does not wait for it, and a
    connection opened after it sees the new rows.
    """
    import subprocess
    import sys

    day2 = funnel_rows(DAY2, [80, 50, 10, 4])
    with extra_contracts():
        settings = ci_settings(tmp_path / "home")
        write_funnel(spark, funnel_rows(DAY1, [100, 60, 20, 5]), DAY1, settings)
        gate_and_publish(spark, [FUNNEL], [DAY1], settings, target="duckdb")
        path = settings.path("warehouse")
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert reader.stdout is not None and reader.stdin is not None
        try:
            assert reader.stdout.readline().strip() == "185"
            write_funnel(spark, day2, DAY2, settings)
            done = gate_and_publish(spark, [FUNNEL], [DAY2], settings, target="duckdb")
            assert done[FUNNEL]["publish"]["status"] == "published"
            reader.stdin.write("\n")
            reader.stdin.flush()
            # The held connection still reads the file it opened; a new one reads the publish.
            assert [reader.stdout.readline().strip() for _ in range(2)] == ["185", "329"]
        finally:
            reader.kill()
            reader.wait()
        assert run_sql(settings, "SELECT SUM(sessions) FROM test.funnel_daily", "duckdb") == [(329,)]
        # No draft or write-ahead log is left beside the warehouse, only the writers' lock file.
        assert sorted(p.name for p in path.parent.glob("detak.duckdb*")) == ["detak.duckdb", "detak.duckdb.writer.lock"]
