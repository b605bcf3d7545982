"""The daily pipeline on a real Spark standalone cluster, through Airflow, equals a local run.

A master and two workers run on loopback (tests/cluster/conftest.py). Airflow runs detak_ingest
and detak_behaviour with ``airflow.task_runner: spark_submit`` against ``spark://``: every task is
a spark-submit whose executors get detak's code from the shipped archive (``--py-files``), not
from the driver's path. The silver, gold and feature tables must equal a local[2] run's.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import load_settings
from jobs.common.spark import jobs_archive
from jobs.orchestration.dag_runs import run_in_airflow
from tests.cluster.pipeline import DAY, airflow_env, assert_same_tables, make_home, run_local
from tests.cluster.standalone import Cluster


@pytest.mark.integration
@pytest.mark.soak
def test_daily_pipeline_on_a_standalone_cluster_equals_local(
    spark: SparkSession, cluster: Cluster, tmp_path: Path
) -> None:
    on_cluster = make_home(tmp_path / "cluster")
    reference = make_home(tmp_path / "local", landing_from=tmp_path / "cluster")

    env = airflow_env(
        tmp_path / "cluster",
        master=cluster.master_url,
        # Workers offer 1 core and 1 GiB each; the driver only plans (tiny data).
        conf={"spark.executor.memory": "1g", "spark.executor.cores": "1", "spark.driver.memory": "1g"},
    )
    log = tmp_path / "airflow.log"
    t0 = time.monotonic()
    run_in_airflow(
        load_settings("ci", environ=env),
        ["detak_ingest@2026-11-11T00:00", f"detak_behaviour@{DAY},since={DAY}"],
        log,
        base=env,
        task_runner="spark_submit",
        # The gate and publish write no silver, gold or feature table; they run on local[*] in
        # their own tests. Each spark-submit costs a JVM start.
        mark_success="^(quality|publish)\\.",
    )
    print(f"\nairflow on the cluster: {time.monotonic() - t0:.0f}s")
    # Every task went to the cluster, and executors got detak's code from the shipped archive.
    commands = [line for line in log.read_text().splitlines() if "Spark-Submit cmd:" in line]
    assert len(commands) == 8  # 3 ingest tasks, 5 daily tasks
    assert all(f"--master {cluster.master_url}" in c for c in commands)
    assert len({p.parent.parent.name for p in cluster.shipped(jobs_archive(on_cluster).name)}) == 8

    run_local(spark, reference)
    assert_same_tables(spark, on_cluster, reference)
