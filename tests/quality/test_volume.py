"""The live volume check on the shared simulated days: a tracker outage (lines that never arrived)
and a bot flood (an hour's events arriving again under new ids) are caught from bronze alone,
before silver runs; the untouched hours pass."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import conform, read_table, replace_partitions, table_path
from jobs.quality.volume import run_volume_check
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

LAST = SIM_START + timedelta(days=SIM_DAYS - 1)
#: "Now": 09:30 UTC on Nov 12 (16:30 in Jakarta), so the check looks at 03:00-08:00 UTC.
NOW = datetime(2026, 11, 12, 9, 30)
CHECKED = [f"2026-11-12 0{h}:00:00" for h in range(3, 9)]
OUTAGE, FLOOD = datetime(2026, 11, 12, 5), datetime(2026, 11, 12, 7)
HEARD: list[dict[str, Any]] = []


def hear(alert: dict[str, Any]) -> None:
    HEARD.append(alert)


@pytest.fixture(scope="module")
def home(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shared days as bronze held them at NOW, their gold.traffic_hourly (the all-events ratio),
    and a forecast of the checked hours equal to what happened with a ±30 % interval: a forecast that
    was right, for the check to compare with."""
    from jobs.gold import traffic
    from jobs.gold.sessions import behaviour_scope

    conf = sim_settings(
        copy_home(sim_home, tmp_path_factory.mktemp("volume") / "home"),
        forecast={"live": {"hours": 6, "alert_callback": "tests.quality.test_volume.hear"}},
    )
    events = read_table(spark, "silver.events", conf)
    scoped, consenting = behaviour_scope(events, read_table(spark, "silver.sessions", conf))
    hourly = traffic.transform(events, scoped, consenting, read_table(spark, "silver.orders", conf),
                               conf["gold"]["browsing"])  # fmt: skip
    days = [SIM_START + timedelta(days=i) for i in range(SIM_DAYS)]
    replace_partitions(hourly, "gold.traffic_hourly", days, conf)
    for source in ("clickstream", "search"):
        DeltaTable.forPath(spark, table_path(f"bronze.{source}_events", conf)).delete(
            F.col("received_at") >= F.lit(NOW)
        )
    hours = (
        read_table(spark, "gold.traffic_hourly", conf)
        .where(F.col("hour_utc").between(F.lit(datetime(2026, 11, 12, 3)), F.lit(datetime(2026, 11, 12, 8))))
        .select(
            F.date_sub("local_date", 1).alias("forecast_date"), "local_date", "local_hour", "hour_utc",
            F.lit(1).alias("horizon_days"), F.lit(None).cast("string").alias("sale_name"),
            F.lit("ordinary").alias("basis"), F.col("events").cast("double").alias("events"),
            (F.col("events") * 0.7).alias("events_low"), (F.col("events") * 1.3).alias("events_high"),
            *[F.lit(0.0).alias(f"{t}{end}") for t in ("sessions", "orders", "peak_events_per_second")
              for end in ("", "_low", "_high")],
            F.lit(False).alias("over_capacity"), F.lit(30).alias("history_days"),
        )
    )  # fmt: skip
    replace_partitions(conform(hours, "gold.traffic_forecast_hourly"), "gold.traffic_forecast_hourly",
                       [date(2026, 11, 11)], conf)  # fmt: skip
    return conf


def test_an_outage_and_a_flood_are_caught_and_the_other_hours_pass(spark: SparkSession, home: Settings) -> None:
    conf = home
    HEARD.clear()
    clean = run_volume_check(spark, LAST, conf)
    assert [h["hour_utc"] for h in clean["hours"]] == CHECKED
    assert [h["verdict"] for h in clean["hours"]] == ["within"] * 6, clean["hours"]
    assert HEARD == [] and clean["alerts"] == []
    normal = {h["hour_utc"]: h["events"] for h in clean["hours"]}

    # The outage: the clickstream tracker sends nothing from 05:00 to 06:00.
    clicks = DeltaTable.forPath(spark, table_path("bronze.clickstream_events", conf))
    in_hour = F.date_trunc("hour", F.col("received_at")) == F.lit(OUTAGE)
    clicks.delete(in_hour)
    # The flood: every event of 07:00 arrives twice more under new ids.
    bronze = read_table(spark, "bronze.clickstream_events", conf)
    hour = bronze.where(F.date_trunc("hour", F.col("received_at")) == F.lit(FLOOD))
    flood = hour.withColumn("event_id", F.concat(F.col("event_id"), F.lit("-1"))).unionByName(
        hour.withColumn("event_id", F.concat(F.col("event_id"), F.lit("-2")))
    )
    flood.write.format("delta").mode("append").save(table_path("bronze.clickstream_events", conf))

    result = run_volume_check(spark, LAST, conf)
    verdicts = {h["hour_utc"]: h["verdict"] for h in result["hours"]}
    assert verdicts == dict.fromkeys(CHECKED, "within") | {
        "2026-11-12 05:00:00": "below",
        "2026-11-12 07:00:00": "above",
    }
    by_hour = {h["hour_utc"]: h for h in result["hours"]}
    search_only = by_hour["2026-11-12 05:00:00"]["by_source"]
    assert search_only["clickstream"] == 0 and by_hour["2026-11-12 05:00:00"]["events"] == search_only["search"]
    flooded = by_hour["2026-11-12 07:00:00"]
    clicks_then = normal["2026-11-12 07:00:00"] - flooded["by_source"]["search"]
    assert flooded["by_source"]["clickstream"] == 3 * clicks_then
    # Each hour outside its range was heard once, with its counts and range.
    assert [(a["hour_utc"], a["verdict"]) for a in HEARD] == [
        ("2026-11-12 05:00:00", "below"),
        ("2026-11-12 07:00:00", "above"),
    ]
    assert result["alerts"] == HEARD
    assert all(a["low"] <= a["expected"] <= a["high"] for a in HEARD)


def test_nothing_received_is_no_alert(spark: SparkSession, tmp_path: Path) -> None:
    conf = sim_settings(tmp_path / "home")
    assert run_volume_check(spark, LAST, conf) == {"run_date": str(LAST), "hours": [], "alerts": [], "noop": True}
