"""The live volume check of the ingest path: is the traffic arriving now what the forecast said?

After each ingest (``detak_ingest``, every 10 minutes), for the last ``hours`` complete UTC hours of
what reached bronze (the hour of the newest line received is still filling, so it waits for a later
run):

* **Arrived.** Distinct event ids of ``bronze.clickstream_events`` and ``bronze.search_events`` by the
  hour the collector received them (``received_at``): every event the trackers sent, bots included,
  before silver has run.
* **Expected.** The newest forecast made before the hour's local day (gold.traffic_forecast_hourly)
  gives consenting human events with an 80 % interval; the published history gives how many events
  of all kinds come per consenting event (gold.traffic_hourly's events + bot_events +
  no_consent_events over events, the last ``ratio_days`` days). Expected range = the interval × that
  ratio, widened by ``tolerance``.
* **Verdict.** ``below`` (a broken tracker, an outage, a lost collector), ``above`` (a bot flood, an
  attack, a surge the forecast missed), ``within``, or ``no_forecast``. Each ``below`` and ``above``
  hour calls ``forecast.live.alert_callback`` (default: an ERROR log line) with the hour, the source
  counts and the range.

Conf ``forecast.live``. Nothing is written: the check reads and alerts, so a rerun only repeats an alert.
"""

from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import ensure_table, read_table

SOURCES = ("clickstream", "search")
FORECAST = "gold.traffic_forecast_hourly"
HISTORY = "gold.traffic_hourly"


def arrived(spark: SparkSession, settings: Settings, first: datetime, last: datetime) -> dict[datetime, dict[str, int]]:
    """Distinct events per source by the UTC hour received, for hours first..last (bounded: a few hours)."""
    out: dict[datetime, dict[str, int]] = {}
    for source in SOURCES:
        name = f"bronze.{source}_events"
        ensure_table(spark, name, settings)
        rows = (
            read_table(spark, name, settings)
            .where(
                F.col("event_date").between(
                    F.lit(first.date() - timedelta(days=3)), F.lit(last.date() + timedelta(days=1))
                )
            )
            .withColumn("hour", F.date_trunc("hour", F.col("received_at")))
            .where(F.col("hour").between(F.lit(first), F.lit(last)))
            .groupBy("hour")
            .agg(F.countDistinct("event_id").alias("events"))
            .collect()  # bounded: one row per checked hour
        )
        for r in rows:
            out.setdefault(r["hour"], {s: 0 for s in SOURCES})[source] = int(r["events"])
    return out


def newest_hour(spark: SparkSession, settings: Settings, until: datetime) -> datetime | None:
    """The start of the newest hour with a line received, up to ``until`` (None: bronze is empty)."""
    newest = None
    for source in SOURCES:
        name = f"bronze.{source}_events"
        ensure_table(spark, name, settings)
        got = (
            read_table(spark, name, settings)
            .where(F.col("event_date") <= F.lit(until.date() + timedelta(days=1)))
            .where(F.col("received_at") < F.lit(until))
            .agg(F.max(F.date_trunc("hour", F.col("received_at"))).alias("hour"))
            .first()
        )
        got = None if got is None else got["hour"]
        if got is not None and (newest is None or got > newest):
            newest = got
    return newest


def all_events_ratio(spark: SparkSession, settings: Settings, before: date, days: int) -> float | None:
    """All events (bots and no consent included) per consenting event over ``days`` UTC days before ``before``."""
    ensure_table(spark, HISTORY, settings)
    row = (
        read_table(spark, HISTORY, settings)
        .where(F.col("date").between(F.lit(before - timedelta(days=days)), F.lit(before - timedelta(days=1))))
        .agg(
            F.sum(F.col("events") + F.col("bot_events") + F.col("no_consent_events")).alias("all"),
            F.sum("events").alias("events"),
        )
        .first()
    )
    if row is None or not row["events"]:
        return None
    return float(row["all"]) / float(row["events"])


def expected(
    spark: SparkSession, settings: Settings, hours: list[datetime]
) -> dict[datetime, tuple[float, float, float]]:
    """Per UTC hour, the newest forecast made before its local day: (events, low, high)."""
    ensure_table(spark, FORECAST, settings)
    rows = (
        read_table(spark, FORECAST, settings)
        .where(F.col("hour_utc").isin(*hours))
        .where(F.col("forecast_date") < F.col("local_date"))
        .groupBy("hour_utc")
        .agg(F.max_by(F.struct("events", "events_low", "events_high"), "forecast_date").alias("f"))
        .collect()  # bounded: one row per checked hour
    )
    return {
        r["hour_utc"]: (float(r["f"]["events"]), float(r["f"]["events_low"]), float(r["f"]["events_high"]))
        for r in rows
    }


def run_volume_check(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Check the last complete hours received up to the end of ``run_date`` against the forecast."""
    del since, run_id
    params = settings["forecast"]["live"]
    until = datetime.combine(run_date + timedelta(days=1), datetime.min.time())
    newest = newest_hour(spark, settings, until)
    if newest is None:
        return {"run_date": str(run_date), "hours": [], "alerts": [], "noop": True}
    hours = [newest - timedelta(hours=i) for i in range(int(params["hours"]), 0, -1)]
    counts = arrived(spark, settings, hours[0], hours[-1])
    ratio = all_events_ratio(spark, settings, hours[-1].date(), int(params["ratio_days"]))
    ranges = expected(spark, settings, hours)
    tolerance = float(params["tolerance"])
    checked, alerts = [], []
    for hour in hours:
        got = counts.get(hour, {s: 0 for s in SOURCES})
        total = sum(got.values())
        row: dict[str, Any] = {"hour_utc": hour.isoformat(sep=" "), "events": total, "by_source": got}
        if hour not in ranges or ratio is None:
            row["verdict"] = "no_forecast"
        else:
            point, low, high = (x * ratio for x in ranges[hour])
            low, high = low * (1 - tolerance), high * (1 + tolerance)
            row.update({"expected": round(point, 1), "low": round(low, 1), "high": round(high, 1)})
            row["verdict"] = "below" if total < low else "above" if total > high else "within"
            if row["verdict"] != "within":
                alerts.append(row)
        checked.append(row)
    if alerts:
        dotted = str(params["alert_callback"])
        module_name, _, attr = dotted.rpartition(".")
        notify = getattr(importlib.import_module(module_name), attr)
        for alert in alerts:
            notify(alert)
    return {"run_date": str(run_date), "ratio": ratio, "hours": checked, "alerts": alerts}
