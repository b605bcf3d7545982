"""The detak_ingest DAG, run through Airflow on simulated landing files, reconciled with the truth."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.tables import read_table
from jobs.demo import reconcile
from jobs.orchestration.airflow import airflow_environ
from jobs.simulate import generate
from tests.conftest import ci_settings


@pytest.mark.integration
@pytest.mark.soak
def test_ingest_dag_lands_every_line_exactly_once(spark: SparkSession, tmp_path: Path) -> None:
    home = tmp_path / "home"
    conf = ci_settings(home)
    truth = generate(home, date(2026, 11, 11), 1, 120, seed=5, settings=conf, progress=False)

    base = {k: v for k, v in os.environ.items() if not k.startswith(("DETAK", "AIRFLOW"))}
    base |= {"DETAK_HOME": str(home), "DETAK_ENV": "ci", "AIRFLOW_HOME": str(tmp_path / "airflow")}
    env = airflow_environ(conf, base=base)
    airflow = str(Path(sys.executable).parent / "airflow")
    log = tmp_path / "airflow.log"
    with log.open("w") as out:
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
        run = subprocess.run(
            [airflow, "dags", "test", "detak_ingest", "2026-11-12T00:00:00+00:00"],
            env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    text = log.read_text()
    assert run.returncode == 0, text[-4000:]
    for source in ("clickstream", "search", "orders"):
        assert f"task_id=ingest_{source}" in text

    rows = reconcile(spark, conf, truth)
    for row in rows:
        assert row["landing_lines"] == row["bronze_rows"] + row["quarantined"] == row["truth_lines"], row
        assert row["bronze_rows"] == row["truth_valid"], row
        assert row["by_reason"] == row["truth_by_reason"], row

    # Not only the counts: bronze holds exactly the simulator's distinct good events.
    true_events = spark.read.parquet(str(home / "truth" / "events.parquet"))
    for source in ("clickstream", "search", "orders"):
        landed = read_table(spark, f"bronze.{source}_events", conf).select("event_id").distinct()
        expected = true_events.where(F.col("source") == source).select("event_id")
        assert landed.exceptAll(expected).count() == 0
        assert expected.exceptAll(landed).count() == 0
