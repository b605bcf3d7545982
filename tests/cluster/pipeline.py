"""What the cluster and Connect tests share: a tiny simulated home, its local reference, the comparison."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.tables import read_table
from jobs.registry import jobs
from tests.conftest import ci_settings, sim_settings

#: One ordinary day of a few hundred users: every table gets rows, every spark-submit stays short.
DAY = date(2026, 11, 10)
USERS = 150
SEED = 11

#: The daily jobs whose tables are compared: the core of the daily pipeline, from silver to the
#: features. Every spark-submit pays a JVM start, so the other jobs (each with its own tests on
#: local[*]) and the quality gate and publish (whose results depend on the clock) are marked
#: successful unrun in the Airflow runs of these tests.
COMPARED_JOBS = ("silver", "gold_browsing", "gold_abandonment", "gold_purchase_time", "features")


def only_tasks(*task_ids: str) -> str:
    """A ``mark_success`` pattern for every task of the runs but ``task_ids`` (those really run)."""
    wanted = "|".join(re.escape(t) for t in task_ids)
    return f"^(?!(?:{wanted})$).*"


def make_home(home: Path, landing_from: Path | None = None) -> Settings:
    """A home with the day's landing files: simulated, or copied from ``landing_from``."""
    from jobs.simulate import generate

    conf = ci_settings(home)
    if landing_from is None:
        generate(home, DAY, 1, USERS, seed=SEED, settings=sim_settings(home), progress=False, workers=1)
    else:
        shutil.copytree(landing_from / "landing", home / "landing")
    return conf


def run_local(spark: SparkSession, conf: Settings) -> None:
    """Ingest and the compared daily jobs on the given (local) session: the reference the other
    runs must equal."""
    from jobs.bronze.ingest import ingest_source

    for source in conf["ingest"]["sources"]:
        ingest_source(spark, source, conf, run_id="local")
    for j in jobs("daily"):
        if j.name in COMPARED_JOBS:
            j.load()(spark, DAY, conf, since=DAY)


def copy_layers(src: Settings, dst: Path, layers: tuple[str, ...]) -> None:
    """Copy the lake folders of ``layers`` (``bronze``, ``silver``...) into the home ``dst``; not
    ``ops``, so the jobs there find every date new."""
    for layer in layers:
        shutil.copytree(src.path("lake") / layer, dst / "lake" / layer)


def airflow_env(home: Path, **spark: object) -> dict[str, str]:
    """The environment of an Airflow run of the tiny home: CI settings, this home, Spark overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETAK__")}
    # Drivers bind to loopback, where the cluster and the Connect server listen.
    env.update({"DETAK_ENV": "ci", "DETAK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"})
    for key, value in spark.items():
        # Where base.yaml holds a string the variable's text is the value as written; others are YAML.
        env[f"DETAK__SPARK__{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def compared_tables() -> list[str]:
    return [t for j in jobs("daily") if j.name in COMPARED_JOBS for t in j.outputs]


def assert_same_tables(spark: SparkSession, got: Settings, expected: Settings) -> None:
    """Every silver, gold and feature table equal, whole, row for row (lineage columns ``_*`` aside)."""
    for name in compared_tables():
        columns = [f.name for f in table(name).spark_schema.fields if not f.name.startswith("_")]
        key = [c for c in table(name).key if c in columns] or columns
        a = read_table(spark, name, got).select(columns).orderBy(*key)
        b = read_table(spark, name, expected).select(columns).orderBy(*key)
        assertDataFrameEqual(a, b, checkRowOrder=True)
