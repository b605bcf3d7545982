"""The daily jobs as thin Spark Connect clients of one long-lived server equal local runs.

The server (tests/cluster/conftest.py) is started once; Airflow runs detak_behaviour with
``airflow.task_runner: spark_connect``, every task a client of that server (no JVM of its own).
The gold and feature jobs run over Connect; silver, the quality gate and publish are marked
successful unrun (they use Delta's Python DeltaTable API, which over Connect needs Delta's server
plugin: docs/SCALING.md), so silver comes from a local run and the tables the Connect run writes
must equal the local run's.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import load_settings
from jobs.orchestration.dag_runs import run_in_airflow
from tests.cluster.pipeline import DAY, airflow_env, assert_same_tables, make_home, run_local

CONNECT_JOBS = ("gold_browsing", "gold_abandonment", "gold_purchase_time", "features")


@pytest.mark.integration
@pytest.mark.soak
def test_daily_jobs_over_spark_connect_equal_local(spark: SparkSession, connect_server: str, tmp_path: Path) -> None:
    reference = make_home(tmp_path / "local")
    run_local(spark, reference, names=("silver",))
    shutil.copytree(tmp_path / "local" / "lake", tmp_path / "connect" / "lake")
    run_local(spark, reference, names=CONNECT_JOBS, ingest=False)

    env = airflow_env(tmp_path / "connect", remote=connect_server)
    t0 = time.monotonic()
    run_in_airflow(
        load_settings("ci", environ=env),
        [f"detak_behaviour@{DAY},since={DAY}"],
        tmp_path / "airflow.log",
        base=env,
        task_runner="spark_connect",
        mark_success="^(silver|quality|publish)\\.",
    )
    print(f"\nairflow over Spark Connect: {time.monotonic() - t0:.0f}s")
    assert_same_tables(spark, load_settings("ci", environ=env), reference)
