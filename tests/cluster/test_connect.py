"""The daily jobs as thin Spark Connect clients of one long-lived server equal local runs.

The server (tests/cluster/conftest.py) is started once; Airflow runs detak_behaviour with
``airflow.task_runner: spark_connect``, every task a client of that server (no JVM of its own).
The compared gold jobs and the features run over Connect; every other task is marked successful
unrun. Silver, the quality gate and publish use Delta's Python DeltaTable API, which over Connect
needs Delta's server plugin (docs/SCALING.md), so bronze and silver come from the shared local run
and the tables the Connect run writes must equal that run's.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings, load_settings
from jobs.orchestration.dag_runs import run_in_airflow
from tests.cluster.pipeline import DAY, airflow_env, assert_same_tables, copy_layers, only_tasks

#: Airflow tasks that run as Connect clients: the compared daily jobs after silver.
OVER_CONNECT = ("gold.gold_browsing", "gold.gold_abandonment", "gold.gold_purchase_time", "features.features")


@pytest.mark.integration
def test_daily_jobs_over_spark_connect_equal_local(
    spark: SparkSession, connect_server: str, local_reference: Settings, tmp_path: Path
) -> None:
    # Bronze and silver from the local run; no gold, feature or ops table: every date is new there.
    copy_layers(local_reference, tmp_path / "connect", ("bronze", "silver"))

    env = airflow_env(tmp_path / "connect", remote=connect_server)
    t0 = time.monotonic()
    run_in_airflow(
        load_settings("ci", environ=env),
        [f"detak_behaviour@{DAY},since={DAY}"],
        tmp_path / "airflow.log",
        base=env,
        task_runner="spark_connect",
        mark_success=only_tasks(*OVER_CONNECT),
    )
    print(f"\nairflow over Spark Connect: {time.monotonic() - t0:.0f}s")
    assert_same_tables(spark, load_settings("ci", environ=env), local_reference)
