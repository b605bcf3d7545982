"""What a cluster or a Spark Connect server gets from detak, checked without starting Spark."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import jobs
from jobs.common.contracts import table
from jobs.common.spark import build_jobs_archive, connect_server_argv, jobs_archive, spark_conf
from jobs.common.tables import _create_sql
from tests.conftest import ci_settings


def test_the_jobs_archive_holds_the_package_and_is_rewritten_only_when_the_code_changes(tmp_path: Path) -> None:
    conf = ci_settings(tmp_path)
    path = build_jobs_archive(conf)
    assert path == jobs_archive(conf) == tmp_path / "dist" / "detak-jobs.zip"
    package = Path(jobs.__file__).parent
    expected = sorted(
        str(Path("jobs") / p.relative_to(package))
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    )
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == expected
        assert archive.read("jobs/common/spark.py") == (package / "common" / "spark.py").read_bytes()
    stamp = path.stat().st_mtime_ns
    build_jobs_archive(conf)
    assert path.stat().st_mtime_ns == stamp  # same code: the file a running submit reads is left alone


def test_a_cluster_interpreter_from_the_settings_wins_over_the_drivers(tmp_path: Path) -> None:
    conf = ci_settings(tmp_path, spark={"conf": {"spark.pyspark.python": "/opt/detak/venv/bin/python"}})
    assert spark_conf(conf)["spark.pyspark.python"] == "/opt/detak/venv/bin/python"


def test_the_connect_server_command_carries_detaks_settings_and_code(tmp_path: Path) -> None:
    conf = ci_settings(tmp_path)
    argv = connect_server_argv(conf, port=15099)
    assert argv[0].endswith("/bin/spark-submit") and argv[-1] == "spark-internal"
    pairs = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))
    assert pairs["--class"] == "org.apache.spark.sql.connect.service.SparkConnectServer"
    assert pairs["--master"] == "local[2]"
    assert pairs["--packages"] == ",".join(conf["spark"]["packages"])
    assert pairs["--py-files"] == str(jobs_archive(conf))
    confs = dict(v.split("=", 1) for k, v in zip(argv[1:-1:2], argv[2:-1:2], strict=True) if k == "--conf")
    assert confs["spark.connect.grpc.binding.port"] == "15099"
    assert confs["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert confs["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"


def test_create_sql_states_the_contracts_columns_partitions_and_comment() -> None:
    contract = table("gold.funnel_daily")
    sql = _create_sql(contract, "/lake/gold/funnel_daily")
    assert sql.startswith("CREATE TABLE IF NOT EXISTS delta.`/lake/gold/funnel_daily` (`")
    for field in contract.spark_schema.fields:
        assert f"`{field.name}` {field.dataType.simpleString()}{'' if field.nullable else ' NOT NULL'}" in sql
    assert f"PARTITIONED BY ({', '.join(contract.partition_by)})" in sql
    assert "USING delta" in sql


def test_the_connect_runner_needs_a_server(tmp_path: Path) -> None:
    from jobs.orchestration.airflow import job_task

    conf = ci_settings(tmp_path, airflow={"task_runner": "spark_connect"})
    with pytest.raises(ValueError, match=r"spark\.remote"):
        job_task("t", ["job", "silver"], doc_md="", conf=conf)
