"""The daily pipeline on a real Spark standalone cluster, through Airflow, equals a local run.

A master and two workers run on loopback (tests/cluster/conftest.py). Airflow runs detak_behaviour
with ``airflow.task_runner: spark_submit`` against ``spark://``: every task is a spark-submit whose
executors get detak's code from the shipped archive (``--py-files``), not from the driver's path.
The silver, gold and feature tables must equal a local[2] run's.

``make test`` runs the daily DAG on bronze tables ingested locally: each spark-submit starts a
driver and two executors, cold, about a minute and a half per task on 2 shared cores. ``make soak``
also runs detak_ingest on the cluster first (three more submits).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings, load_settings
from jobs.common.spark import jobs_archive
from jobs.orchestration.dag_runs import run_in_airflow
from tests.cluster.pipeline import DAY, airflow_env, assert_same_tables, copy_layers, make_home, only_tasks
from tests.cluster.standalone import Cluster

#: The Airflow tasks of the compared daily jobs: they run, as spark-submits to the cluster.
DAILY = ("silver.silver", "gold.gold_browsing", "gold.gold_abandonment", "gold.gold_purchase_time", "features.features")
INGEST = ("ingest_clickstream", "ingest_search", "ingest_orders")


@pytest.mark.integration
@pytest.mark.parametrize("ingest", [False, pytest.param(True, marks=pytest.mark.soak)], ids=["daily", "ingest+daily"])
def test_daily_pipeline_on_a_standalone_cluster_equals_local(
    spark: SparkSession, cluster: Cluster, local_reference: Settings, tmp_path: Path, ingest: bool
) -> None:
    on_cluster = make_home(tmp_path / "cluster", landing_from=local_reference.home)
    if not ingest:
        copy_layers(local_reference, on_cluster.home, ("bronze",))

    jvm = "-XX:+UseParallelGC -XX:TieredStopAtLevel=1"  # short-lived JVMs: a quick JIT pays off
    env = airflow_env(
        tmp_path / "cluster",
        master=cluster.master_url,
        # Workers offer 1 core and 1 GiB each; the driver only plans (tiny data).
        conf={
            "spark.executor.memory": "1g",
            "spark.executor.cores": "1",
            "spark.driver.memory": "1g",
            "spark.driver.extraJavaOptions": jvm,
            "spark.executor.extraJavaOptions": jvm,
        },
    )
    runs = [*(["detak_ingest@2026-11-11T00:00"] if ingest else []), f"detak_behaviour@{DAY},since={DAY}"]
    submitted = (*(INGEST if ingest else ()), *DAILY)
    log = tmp_path / "airflow.log"
    t0 = time.monotonic()
    run_in_airflow(
        load_settings("ci", environ=env),
        runs,
        log,
        base=env,
        task_runner="spark_submit",
        mark_success=only_tasks(*submitted),
    )
    print(f"\nairflow on the cluster: {time.monotonic() - t0:.0f}s")
    # Every task went to the cluster, and executors got detak's code from the shipped archive.
    commands = [line for line in log.read_text().splitlines() if "Spark-Submit cmd:" in line]
    assert len(commands) == len(submitted)
    assert all(f"--master {cluster.master_url}" in c for c in commands)
    assert len({p.parent.parent.name for p in cluster.shipped(jobs_archive(on_cluster).name)}) == len(submitted)
    assert_same_tables(spark, on_cluster, local_reference)
