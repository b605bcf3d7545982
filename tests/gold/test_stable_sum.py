"""Sums of weights give the same double whatever order Spark adds them in (re-runs equal bit for bit)."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.gold.recommendations import stable_sum


def test_stable_sum_does_not_depend_on_the_order_of_addition(spark: SparkSession) -> None:
    values = [0.1, 0.2, 0.3]  # (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3) in doubles
    forward = spark.createDataFrame([("g", v) for v in values], "g string, v double").coalesce(1)
    backward = spark.createDataFrame([("g", v) for v in reversed(values)], "g string, v double").coalesce(1)

    def total(df, fn):  # type: ignore[no-untyped-def]
        return df.groupBy("g").agg(fn(F.col("v")).alias("s")).first()["s"]

    # The plain sum differs in the last bit with the order; the stable one does not.
    assert total(forward, F.sum) != total(backward, F.sum)
    assert total(forward, stable_sum) == total(backward, stable_sum) == 0.6
