"""The daily silver job on simulated data: N daily runs equal one full rebuild; re-runs change nothing."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.ingest import ingest_source
from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.silver.daily import run_silver
from jobs.simulate import generate
from tests.conftest import ci_settings

START = date(2026, 11, 9)
DAYS = 3
TABLES = [
    "silver.events",
    "silver.sessions",
    "silver.actor_verdicts",
    "silver.order_status_history",
    "silver.orders",
    "silver.order_items",
    "silver.identity_map",
    "silver.reconciliation",
]


def settings_for(home: Path, lookback: int) -> Settings:
    # A few small scrapers keep the bot rules busy without the volume of a real scraping day.
    bots = {"scrapers_per_day": 1, "scraper_minutes": [3, 5], "crawler_share_of_visits": 0.02}
    return ci_settings(home, silver={"lookback_days": lookback, "late_days": 1}, simulator={"bots": bots})


def snapshot(spark: SparkSession, conf: Settings, name: str) -> DataFrame:
    df = read_table(spark, name, conf)
    return df.drop("run_date") if name == "silver.reconciliation" else df


@pytest.fixture(scope="module")
def bronze_home(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("silver_bronze")
    conf = settings_for(home, 1)
    generate(home, START, DAYS, 80, seed=21, settings=conf, progress=False)
    for source in ("clickstream", "search", "orders"):
        ingest_source(spark, source, conf, run_id="fixture")
    return home


def copy_bronze(src: Path, dst: Path) -> None:
    shutil.copytree(src / "lake" / "bronze", dst / "lake" / "bronze")


@pytest.mark.integration
def test_daily_runs_equal_one_full_rebuild_and_reruns_change_nothing(
    spark: SparkSession, bronze_home: Path, tmp_path: Path
) -> None:
    daily, full = settings_for(tmp_path / "daily", 1), settings_for(tmp_path / "full", DAYS - 1)
    copy_bronze(bronze_home, tmp_path / "daily")
    copy_bronze(bronze_home, tmp_path / "full")
    for i in range(DAYS):
        run_silver(spark, START + timedelta(days=i), daily)
    run_silver(spark, START + timedelta(days=DAYS - 1), full)
    for name in TABLES:
        assertDataFrameEqual(snapshot(spark, daily, name), snapshot(spark, full, name))

    before = {name: snapshot(spark, daily, name).collect() for name in TABLES}
    run_silver(spark, START + timedelta(days=DAYS - 1), daily)
    for name in TABLES:
        assertDataFrameEqual(snapshot(spark, daily, name), before[name])


@pytest.mark.integration
def test_rows_reconcile_and_no_duplicate_survives(spark: SparkSession, bronze_home: Path, tmp_path: Path) -> None:
    conf = settings_for(tmp_path / "home", DAYS - 1)
    copy_bronze(bronze_home, tmp_path / "home")
    run_silver(spark, START + timedelta(days=DAYS - 1), conf)
    events = read_table(spark, "silver.events", conf)
    assert events.count() == events.select("event_id").distinct().count()
    rec = read_table(spark, "silver.reconciliation", conf)
    bad = rec.where(F.col("bronze_rows") != F.col("silver_rows") + F.col("duplicates") + F.col("too_late"))
    assert bad.count() == 0
    # Every bronze row whose (corrected) date is in the window is accounted for.
    totals = rec.agg(F.sum("bronze_rows"), F.sum("silver_rows")).first()
    assert totals[1] == events.count()
    truth = spark.read.parquet(str(bronze_home / "truth" / "events.parquet")).where(
        F.col("source").isin("clickstream", "search")
    )
    late = truth.where(F.datediff(F.to_date("received_at_utc"), F.to_date("event_time_utc")) > 1).count()
    assert events.count() + late == truth.count()
