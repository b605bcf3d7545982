"""The surge forecast: the 11.11 backtest from 1 November on a simulated season and a half, against
the seasonal-naive baseline; the daily job's table, gate and capacity alerts; too little history."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings, load_settings
from jobs.common.tables import conform, read_table, replace_partitions
from jobs.ml.forecast import (
    TABLE,
    TARGETS,
    backtest_scores,
    capacity_flags,
    forecast,
    read_history,
    run_forecast,
    seasonal_naive,
)
from jobs.simulate.history import hourly_history
from tests.conftest import ci_settings

#: A season and a half of hourly traffic: growth of 30 % a year and 5 % daily noise, 2,000 shoppers.
SEASONS = {"simulator": {"seasons": {"yearly_growth": 0.3, "daily_noise": 0.05}}}
FIRST, LAST, USERS, SEED = date(2025, 8, 1), date(2026, 11, 30), 2000, 3
ORIGIN, SALE = date(2026, 11, 1), date(2026, 11, 11)

#: Alerts the capacity callback received (forecast.capacity_alert_callback points here in the job test).
ALERTS: list[dict[str, Any]] = []


def capture(alert: dict[str, Any]) -> None:
    ALERTS.append(alert)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    conf = load_settings("ci", environ={}, overrides=SEASONS)
    return hourly_history(FIRST, (LAST - FIRST).days + 1, USERS, SEED, conf)


def _local(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby(["local_date", "local_hour"], as_index=False)[list(TARGETS)].agg(
        {"events": "sum", "sessions": "sum", "orders": "sum", "peak_events_per_second": "max"}
    )


def test_backtest_of_11_11_from_1_november(history: pd.DataFrame) -> None:
    """Daily MAPE <= 15 %, 11.11's peak hour within 1 h and its volume within 20 %, a lower daily MAPE
    than the seasonal-naive baseline, and 80 % intervals that hold about 80 % of the hours."""
    conf = load_settings("ci", environ={}, overrides=SEASONS)
    actual = _local(history)
    past = actual[actual["local_date"] <= ORIGIN]
    got = forecast(past, conf["calendar"], ORIGIN, conf["forecast"])
    days = [ORIGIN + timedelta(days=i) for i in range(1, 15)]
    assert sorted(set(got["local_date"])) == days and len(got) == 14 * 24
    assert set(got.loc[got["local_date"] == SALE, "basis"]) == {"last_season_sale_day"}
    model = backtest_scores(got, actual, day=SALE)
    naive = backtest_scores(seasonal_naive(past, conf["calendar"], ORIGIN, days), actual, day=SALE)
    assert model["daily_mape"] <= 0.15, model
    assert model["peak_hour_error_h"] <= 1, model
    assert abs(model["peak_volume_error"]) <= 0.20, model
    assert model["daily_mape"] < naive["daily_mape"], (model, naive)
    both = got.merge(actual, on=["local_date", "local_hour"], suffixes=("", "_actual"))
    for target in TARGETS:
        inside = both[f"{target}_actual"].between(both[f"{target}_low"], both[f"{target}_high"]).mean()
        assert 0.7 <= inside <= 0.92, (target, inside)


def _lake(spark: SparkSession, home: Path, history: pd.DataFrame, first: date, **overrides: Any) -> Settings:
    conf = ci_settings(home, **overrides)
    rows = history[(history["date"] >= first) & (history["date"] <= ORIGIN)].drop(columns="expected_visits")
    replace_partitions(conform(spark.createDataFrame(rows), "gold.traffic_hourly"), "gold.traffic_hourly",
                       sorted(set(rows["date"])), conf)  # fmt: skip
    return conf


def test_the_daily_job_writes_the_forecast_gates_it_and_alerts_on_capacity(
    spark: SparkSession, history: pd.DataFrame, tmp_path: Path
) -> None:
    from jobs.quality.daily import run_gate

    capacity = {"events_per_second": 5.6, "orders_per_minute": 0.6}  # 11.11: above both
    conf = _lake(
        spark, tmp_path / "home", history, date(2026, 9, 1),
        forecast={"capacity": capacity, "capacity_alert_callback": "tests.ml.test_forecast.capture"},
    )  # fmt: skip
    ALERTS.clear()
    result = run_forecast(spark, ORIGIN, conf)
    assert result["dates"] == str(ORIGIN) and result["skipped"] == {}
    # The table is the pandas forecast of the same history, row for row, with the UTC hour and flags.
    expected = forecast(read_history(spark, conf, ORIGIN, 800), conf["calendar"], ORIGIN, conf["forecast"])
    table = read_table(spark, TABLE, conf).toPandas()  # 14 × 24 rows
    assert len(table) == 14 * 24 and set(table["forecast_date"]) == {ORIGIN}
    merged = table.merge(expected, on=["local_date", "local_hour"], suffixes=("", "_expected"))
    for column in [*TARGETS, *(f"{t}_{end}" for t in TARGETS for end in ("low", "high")), "basis", "horizon_days"]:
        assert (merged[column] == merged[f"{column}_expected"]).all(), column
    # Two months of history: no last-season 11.11, so the mean surge of 9.9 and 10.10 stands in.
    assert set(table.loc[table["local_date"] == SALE, "basis"]) == {"sale_days_mean"}
    utc = table.loc[(table["local_date"] == SALE) & (table["local_hour"] == 0), "hour_utc"].iloc[0]
    assert str(utc) == "2026-11-10 17:00:00"  # midnight in Jakarta
    # Capacity: the flagged hours are those whose upper bounds exceed it, and the callback heard of
    # each day that has any, with how many days ahead it is.
    flagged = table[capacity_flags(table, capacity)]
    assert (table["over_capacity"] == capacity_flags(table, capacity)).all() and len(flagged) > 0
    want = {(str(d), tuple(sorted(rows["local_hour"]))) for d, rows in flagged.groupby("local_date")}
    assert {(a["local_date"], tuple(a["hours"])) for a in ALERTS} == want
    assert {a["local_date"]: a["days_ahead"] for a in ALERTS}[str(SALE)] == 10
    assert result["capacity_alerts"] == ALERTS
    # The gate passes it; a run with nothing new does nothing.
    gate = run_gate(spark, ORIGIN, conf, tables=(TABLE,))
    assert gate["rows"][TABLE].startswith("passed"), gate
    assert run_forecast(spark, ORIGIN, conf)["dates"] == "none"


def test_too_little_history_says_why(spark: SparkSession, history: pd.DataFrame, tmp_path: Path) -> None:
    conf = _lake(spark, tmp_path / "home", history, ORIGIN - timedelta(days=9))
    result = run_forecast(spark, ORIGIN, conf)
    assert result["skipped"] == {str(ORIGIN): "10 days of gold.traffic_hourly, below forecast.min_history_days"}
    assert read_table(spark, TABLE, conf).where(F.col("forecast_date") == ORIGIN).count() == 0
