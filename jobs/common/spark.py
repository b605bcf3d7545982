"""The one way detak gets a Spark session, from the CLI, from tests and under spark-submit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from jobs.common.config import Settings
from jobs.common.config import settings as current_settings


def spark_conf(settings: Settings) -> dict[str, str]:
    """Every Spark property detak sets, as strings: used by the session builder and spark-submit."""
    spark = settings["spark"]
    conf: dict[str, str] = {str(k): str(v) for k, v in spark["conf"].items()}
    conf.update(
        {
            "spark.app.name": str(spark["app_name"]),
            "spark.sql.shuffle.partitions": str(spark["shuffle_partitions"]),
            "spark.ui.enabled": str(bool(spark["ui"])).lower(),
            "spark.ui.showConsoleProgress": str(bool(spark["progress_bar"])).lower(),
            # Resolved once from Maven Central into the Ivy cache (make setup); served from there
            # afterwards, without network.
            "spark.jars.packages": ",".join(packages(settings)),
            "spark.jars.ivy": str(spark["ivy_cache"]),
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
        }
    )
    for key, value in lineage_conf(settings).items():
        # A listener of the user's own (spark.conf) stays beside OpenLineage's.
        mine = conf.get(key) if key == "spark.extraListeners" else None
        conf[key] = f"{mine},{value}" if mine else value
    return conf


def packages(settings: Settings) -> list[str]:
    """The Maven coordinates of the jars detak's sessions load."""
    extra = [settings["lineage"]["spark_package"]] if settings["lineage"]["enabled"] else []
    return [str(p) for p in [*settings["spark"]["packages"], *extra]]


def lineage_conf(settings: Settings) -> dict[str, str]:
    """Spark properties of the OpenLineage listener and its file transport (none when lineage is off)."""
    lineage = settings["lineage"]
    if not lineage["enabled"]:
        return {}
    return {
        "spark.extraListeners": "io.openlineage.spark.agent.OpenLineageSparkListener",
        "spark.openlineage.namespace": str(lineage["namespace"]),
        "spark.openlineage.transport.type": "file",
        "spark.openlineage.transport.location": str(lineage["file"]),
    }


def submit_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for Airflow's SparkSubmitOperator that match :func:`get_spark` exactly."""
    conf = spark_conf(settings)
    packages = conf.pop("spark.jars.packages")
    name = conf.pop("spark.app.name")
    return {"conf": conf, "packages": packages, "name": name}


def _inside_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands Python the gateway; its --conf flags already apply.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(settings: Settings | None = None, app_name: str | None = None) -> SparkSession:
    """Return the active session or build one from settings (master, Delta, jars, shuffles)."""
    settings = settings or current_settings()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder
    # An in-process session starts its Python workers with PYSPARK_PYTHON (default: whatever
    # "python3" is on PATH), not spark.pyspark.python: pin them to this interpreter, which has
    # the project's packages (pandas UDFs need them).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings["lineage"]["enabled"] and "://" not in str(settings["lineage"]["file"]):
        # The listener appends to the file but does not create its folder.
        Path(settings["lineage"]["file"]).parent.mkdir(parents=True, exist_ok=True)
    if not _inside_spark_submit():
        builder = builder.master(str(settings["spark"]["master"]))
        for key, value in spark_conf(settings).items():
            builder = builder.config(key, value)
        if app_name:
            builder = builder.appName(app_name)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(str(settings["spark"]["log_level"]))
    if settings["lineage"]["enabled"]:
        # The listener warns at every query that connectors' own lineage extensions could be
        # loaded by another class loader (none of ours has one): keep its errors only.
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        log4j = jvm.org.apache.logging.log4j
        log4j.core.config.Configurator.setLevel("io.openlineage", log4j.Level.ERROR)
    return spark


def materialize(df: DataFrame) -> DataFrame:
    """Cut a frame's lineage where several outputs read it.

    Like ``persist()``, the frame is computed once (at the first action that needs it) and kept
    on the executors; unlike it, every later query plans against a small leaf instead of
    re-analysing the whole chain behind it, which for plans of hundreds of operators (silver,
    gold browsing) is a large share of each write. The blocks are Spark's local checkpoint: an
    executor lost mid-job fails the job, and the task's retry recomputes it (jobs are
    idempotent). They are released once the frame is no longer referenced.
    """
    return df.localCheckpoint(eager=False)
