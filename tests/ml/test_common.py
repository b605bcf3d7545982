"""Helpers the models share: time split, metrics beside baselines, bounded hand-over.

The decision-point abandonment models themselves: tests/ml/test_decision_points.py.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.ml.common import TimeSplit, binary_metrics, split_mask, time_split, to_pandas_capped


def test_time_split_holds_out_the_last_days() -> None:
    dates = pd.Series([date(2026, 11, d) for d in (9, 9, 10, 11, 12, 12)])
    split = time_split(dates, 1)
    assert split == TimeSplit(date(2026, 11, 9), date(2026, 11, 11), date(2026, 11, 12), date(2026, 11, 12))
    train, test = split_mask(dates, split)
    assert train.tolist() == [True, True, True, True, False, False]
    assert test.tolist() == [False, False, False, False, True, True]
    with pytest.raises(ValueError):
        time_split(pd.Series([date(2026, 11, 9)]), 1)


def test_metrics_report_no_skill_baselines() -> None:
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert (m["roc_auc"], m["roc_auc_baseline"], m["pr_auc_baseline"]) == (0.75, 0.5, 0.5)
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_hand_over_is_capped(spark: SparkSession) -> None:
    df = spark.range(100).withColumn("x", F.col("id") * 2)
    small, total = to_pandas_capped(df, 10, seed=1)
    assert total == 100 and 0 < len(small) <= 10
    whole, _ = to_pandas_capped(df, 1000, seed=1)
    assert len(whole) == 100
