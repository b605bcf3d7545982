"""Gold browsing build time on the benchmark day, alone and on top of 30 days of history."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import read_table, table_path
from jobs.gold.browsing import run_browsing
from jobs.silver.daily import CONTEXT_DAYS

HISTORY_DAYS = 30

#: Columns that place a row in time, per table; shifted together to make earlier days.
TIME_COLUMNS = {
    "silver.events": (["event_date", "local_date"], ["event_time", "device_event_time", "received_at", "local_time"]),
    "silver.sessions": (["session_date"], ["session_start", "session_end", "local_start"]),
    "gold.session_facts": (["session_date"], ["session_start", "session_end", "local_start"]),
    "gold.funnel_daily": (["date", "previous_date"], []),
    "gold.traffic_hourly": (["date", "local_date"], ["hour_utc", "hour_local"]),
}


def _shifted(df: DataFrame, dates: list[str], times: list[str], gap: int, days: int) -> DataFrame:
    """The day's rows copied to ``days`` earlier days, the nearest ``gap`` days before it."""
    back = F.col("_back").cast("int")
    out = df.crossJoin(df.sparkSession.range(gap, gap + days).withColumnRenamed("id", "_back"))
    out = out.withColumns({c: F.date_sub(F.col(c), back) for c in dates})
    out = out.withColumns({c: F.col(c) - F.make_interval(days=back) for c in times})
    return out.drop("_back")


def add_history(spark: SparkSession, conf: Settings, day: date, days: int = HISTORY_DAYS) -> dict[str, int]:
    """Copy the day's silver and gold rows to ``days`` days before the day's window (append).

    The window itself (the day and its lookback days) keeps exactly what it had, so the second
    build does the same work plus whatever reading history costs.
    """
    gap = CONTEXT_DAYS + 1  # outside the context days a rebuild of ``day`` reads around it
    added = {}
    for name, (dates, times) in TIME_COLUMNS.items():
        today = read_table(spark, name, conf).where(F.col(dates[0]) == F.lit(day))
        copy = _shifted(today, dates, times, gap, days)
        copy.write.format("delta").mode("append").save(table_path(name, conf))
        added[name] = today.count() * days
    return added


def bench_gold_browsing(spark: SparkSession, conf: Settings, day: date) -> dict[str, Any]:
    """Seconds to build every gold browsing table for ``day``: first alone, then with 30 days before it."""
    # Gold's window is silver's: the day and the lookback days before it, here empty.
    t = time.perf_counter()
    alone = run_browsing(spark, day, conf)
    alone_s = time.perf_counter() - t
    t = time.perf_counter()
    added = add_history(spark, conf, day)
    # Runs follow the data: the copied days are new silver rows, which the next run builds. That
    # run is not measured; the measured one rebuilds the day alone with the history in place.
    run_browsing(spark, day, conf)
    history_s = time.perf_counter() - t
    t = time.perf_counter()
    again = run_browsing(spark, day, conf, since=day)
    again_s = time.perf_counter() - t
    if again["rows"] != alone["rows"]:
        raise AssertionError(f"history changed the day's gold rows: {alone['rows']} vs {again['rows']}")
    return {
        "alone_s": alone_s,
        "with_history_s": again_s,
        "history_rows": added,
        "history_build_s": history_s,
        "rows": alone["rows"],
        "rows_with_history": again["rows"],
    }
