"""Helpers the models share: time split, metrics beside baselines, bounded hand-over.

The decision-point abandonment models themselves: tests/ml/test_decision_points.py.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import joblib
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import load_settings
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


def test_a_model_without_skill_is_named_and_left_unused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jobs.features.cart_risk import latest_models
    from jobs.ml.common import miscalibrated, no_skill

    assert no_skill({"roc_auc": 0.5}) == "held-out ROC AUC 0.5000 is not above 0.5 (chance)"
    assert no_skill({"roc_auc": 0.51}) is None
    assert miscalibrated({"brier": 0.2, "brier_baseline": 0.19}) == (
        "held-out Brier score 0.2000 is not below the base rate's 0.1900"
    )
    assert miscalibrated({"brier": 0.18, "brier_baseline": 0.19}) is None
    # A run's model at a point with no skill is not used for scoring; the others are.
    conf = load_settings("ci", environ={"DETAK_HOME": str(tmp_path)})
    for point, skill in (("add_to_cart", None), ("begin_checkout", "held-out ROC AUC 0.4 is not above 0.5")):
        folder = tmp_path / "models" / "abandonment" / "2026-11-12" / point
        folder.mkdir(parents=True)
        joblib.dump({"model": point}, folder / "model.joblib")
        metrics = {"features_used": ["cart_lines"], "reference": {"cart_lines": 1.0}, "no_skill": skill}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    found = latest_models(conf, date(2026, 11, 12))
    assert found is not None
    run, models = found
    assert run == "2026-11-12" and list(models) == ["add_to_cart"]
    assert models["add_to_cart"]["pipeline"] == {"model": "add_to_cart"}
    assert "model at begin_checkout is not used: held-out ROC AUC 0.4" in capsys.readouterr().out
    assert latest_models(conf, date(2026, 11, 11)) is None
