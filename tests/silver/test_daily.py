"""The daily silver job on simulated data: N daily runs equal one full rebuild; re-runs change nothing."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

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


def settings_for(home: Path) -> Settings:
    # A few small scrapers keep the bot rules busy without the volume of a real scraping day.
    bots = {"scrapers_per_day": 1, "scraper_minutes": [3, 5], "crawler_share_of_visits": 0.02}
    return ci_settings(home, silver={"late_days": 1}, simulator={"bots": bots})


def snapshot(spark: SparkSession, conf: Settings, name: str) -> DataFrame:
    df = read_table(spark, name, conf)
    return df.drop("run_date") if name == "silver.reconciliation" else df


@pytest.fixture(scope="module")
def bronze_home(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("silver_bronze")
    conf = settings_for(home)
    generate(home, START, DAYS, 80, seed=21, settings=conf, progress=False)
    for source in ("clickstream", "search", "orders"):
        ingest_source(spark, source, conf, run_id="fixture")
    return home


def copy_bronze(src: Path, dst: Path) -> None:
    shutil.copytree(src / "lake" / "bronze", dst / "lake" / "bronze")


@pytest.mark.integration
def test_rows_reconcile_and_no_duplicate_survives(spark: SparkSession, bronze_home: Path, tmp_path: Path) -> None:
    conf = settings_for(tmp_path / "home")
    copy_bronze(bronze_home, tmp_path / "home")
    report = run_silver(spark, START + timedelta(days=DAYS - 1), conf)
    events = read_table(spark, "silver.events", conf)
    assert events.count() == events.select("event_id").distinct().count()
    rec = read_table(spark, "silver.reconciliation", conf)
    bad = rec.where(F.col("bronze_rows") != F.col("silver_rows") + F.col("duplicates") + F.col("too_late"))
    assert bad.count() == 0
    # Every bronze row is accounted for, on every date, not only in a window.
    totals = rec.agg(F.sum("bronze_rows"), F.sum("silver_rows")).first()
    bronze = sum(read_table(spark, f"bronze.{s}_events", conf).count() for s in ("clickstream", "search"))
    assert (totals[0], totals[1]) == (bronze, events.count())
    truth = spark.read.parquet(str(bronze_home / "truth" / "events.parquet")).where(
        F.col("source").isin("clickstream", "search")
    )
    late = truth.where(F.datediff(F.to_date("received_at_utc"), F.to_date("event_time_utc")) > 1).count()
    assert events.count() + late == truth.count()
    # A second run has nothing new to do.
    assert run_silver(spark, START + timedelta(days=DAYS - 1), conf)["noop"] is True
    assert report["pending"] == "none"
