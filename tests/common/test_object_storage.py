"""Object storage: ``s3a://`` landing and lake paths and the jars and settings they need reach Spark.

No S3-compatible server runs here: the AWS SDK bundle ``hadoop-aws`` needs is several hundred MB
to fetch on every fresh machine (docs/bronze.md, "Object storage"). What is checked is everything
detak itself does with such settings: the packages Spark resolves and the spark-submit arguments
name ``hadoop-aws``, the ``fs.s3a.*`` properties are passed on, tables and landing folders resolve
to the bucket, and a checkpoint on object storage is refused with one clear line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.bronze.ingest import checkpoint_id, landing_folder, unknown_folders
from jobs.common.errors import UserError
from jobs.common.spark import packages, spark_conf, submit_kwargs
from jobs.common.tables import table_path
from tests.conftest import ci_settings

HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.5.0"
S3A = {
    "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
    "spark.hadoop.fs.s3a.path.style.access": "true",
}


def _s3(tmp_path: Path):  # type: ignore[no-untyped-def]
    base = ci_settings(tmp_path)
    return ci_settings(
        tmp_path,
        paths={"landing": "s3a://shop-events/landing", "lake": "s3a://shop-lake/lake"},
        spark={"packages": [*base["spark"]["packages"], HADOOP_AWS], "conf": S3A},
    )


def test_hadoop_aws_and_the_s3a_settings_reach_spark(tmp_path: Path) -> None:
    conf = _s3(tmp_path)
    assert packages(conf)[-1] == HADOOP_AWS
    # The jars detak prefetch listed do not include it, so Spark resolves the packages again.
    spark = spark_conf(conf)
    assert HADOOP_AWS in spark["spark.jars.packages"].split(",")
    assert {k: spark[k] for k in S3A} == S3A
    submit = submit_kwargs(conf)
    assert HADOOP_AWS in submit["packages"].split(",")
    assert {k: submit["conf"][k] for k in S3A} == S3A


def test_tables_and_landing_folders_live_in_the_buckets(tmp_path: Path) -> None:
    conf = _s3(tmp_path)
    assert table_path("bronze.clickstream_events", conf) == "s3a://shop-lake/lake/bronze/clickstream_events"
    assert landing_folder("search", conf) == "s3a://shop-events/landing/search"
    assert unknown_folders(conf) == {}


def test_a_checkpoint_on_object_storage_is_refused_with_one_line() -> None:
    with pytest.raises(UserError, match=r"paths.checkpoints is s3a://b/ckpt/bronze/search: streaming checkpoints"):
        checkpoint_id("s3a://b/ckpt/bronze/search")
