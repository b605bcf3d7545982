"""Killed at random moments, detak loses nothing: SIGKILLs in every stage (two each here, three
times as many in ``make bench``), then the same tables as a run never interrupted
(tests/faults/scenario.py).

Afterwards every landing line is accounted for, the lake and both warehouses equal the reference
(before and after forgetting a person), and no staging table is visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.silver.reconcile import reconcile
from tests.faults.scenario import KILLS, FaultRun, run_faults
from tests.quality.helpers import postgres_cluster

pytestmark = [pytest.mark.integration, pytest.mark.soak]


@pytest.fixture(scope="module")
def fault_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    root = tmp_path_factory.mktemp("faults")
    with postgres_cluster(root) as pg:
        yield run_faults(spark, root, pg)


def test_kills_land_in_every_stage(fault_run: FaultRun) -> None:
    by_step = fault_run.outcome.kills_by_step()
    # A kill timed past the end of its process does not happen: at least one per stage must.
    assert fault_run.outcome.kills >= len(KILLS), by_step
    for stage in ("ingest", "silver", "gold", "quality_gate", "publish_duckdb", "publish_postgres", "forget"):
        assert by_step.get(stage, 0) >= 1, by_step
    print(f"{fault_run.outcome.kills} kills in {fault_run.seconds:.0f} s: {by_step}")


def test_every_landing_line_is_accounted_for(spark: SparkSession, fault_run: FaultRun) -> None:
    counts = fault_run.accounting
    assert counts["landing_lines"] == counts["bronze"] + counts["quarantine"]
    result = reconcile(spark, fault_run.faulty)
    assert (result.mismatches, result.files.get("unbalanced")) == ([], 0)


@pytest.mark.parametrize("moment", ["before_forget", "after_forget"])
def test_lake_and_both_warehouses_equal_a_clean_run(fault_run: FaultRun, moment: str) -> None:
    clean, faulty = fault_run.snapshots[f"clean_{moment}"], fault_run.snapshots[f"faulty_{moment}"]
    for name in clean["lake"]:
        assert faulty["lake"][name] == clean["lake"][name], name
    assert faulty["duckdb"] == clean["duckdb"]
    assert faulty["postgres"] == clean["postgres"]


def test_no_staging_table_is_visible(fault_run: FaultRun) -> None:
    for moment in ("before_forget", "after_forget"):
        snap = fault_run.snapshots[f"faulty_{moment}"]
        assert [n for n in snap["duckdb"] if "_stage_" in n] == []
        assert [n for n in snap["postgres"] if "_stage_" in n] == []
    staging = Path(str(fault_run.faulty["warehouse"]["staging_dir"]))
    assert not staging.exists() or not any(staging.iterdir())
