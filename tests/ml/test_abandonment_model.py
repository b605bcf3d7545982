"""The abandonment-propensity model: time split, bounded hand-over, and beating the no-skill baseline."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import joblib
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.tables import read_table
from jobs.gold.abandonment import run_abandonment
from jobs.ml.abandonment import FEATURES, train_abandonment
from jobs.ml.common import TimeSplit, binary_metrics, split_mask, time_split, to_pandas_capped
from jobs.quality.gate import gate
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings


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


@pytest.mark.integration
def test_model_beats_no_skill_on_the_last_day(spark: SparkSession, sim_home: Path, tmp_path: Path) -> None:
    home = copy_home(sim_home, tmp_path / "home")
    conf = sim_settings(home)
    last = SIM_START + timedelta(days=SIM_DAYS - 1)
    run_abandonment(spark, last, conf)
    # The model learns from what the quality gate let through: every cart date the run wrote.
    dates = read_table(spark, "gold.cart_abandonment", conf).select("cart_date").distinct()
    days = sorted(r.cart_date for r in dates.collect())  # bounded: one row per simulated day
    assert days == [SIM_START + timedelta(days=i) for i in range(SIM_DAYS)]
    assert gate(spark, "gold.cart_abandonment", days, conf).passed
    metrics = train_abandonment(spark, conf, last)
    print("abandonment model:", json.dumps(metrics, indent=1, default=str))

    assert metrics["split"]["train_end"] < metrics["split"]["test_start"] == str(last)
    test = metrics["test"]
    assert test["roc_auc"] > test["roc_auc_baseline"] + 0.1
    assert test["pr_auc"] > test["pr_auc_baseline"] + 0.1

    folder = Path(metrics["folder"])
    assert folder == home / "models" / "abandonment" / last.isoformat()
    card = (folder / "model_card.md").read_text()
    assert "## Data window" in card and "## Limits" in card and "PR AUC" in card
    assert json.loads((folder / "metrics.json").read_text())["test"]["rows"] == test["rows"]
    pipeline = joblib.load(folder / "model.joblib")
    assert list(pipeline.named_steps) == ["prep", "model"]

    drivers = read_table(spark, "gold.abandonment_drivers", conf)
    top = drivers.where((F.col("stage") == "all") & (F.col("rank") == 1)).collect()  # bounded: one row
    assert len(top) == 1 and top[0].feature in FEATURES and top[0].importance_mean > 0
    assert drivers.select("feature").distinct().count() == len(FEATURES)
