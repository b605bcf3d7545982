"""gold.traffic_hourly: load and business per UTC hour, the input of sale-day surge forecasting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.tables import conform

TABLE = "gold.traffic_hourly"
_COUNTS = ["sessions", "events", "unique_visitors", "orders", "revenue", "bot_events", "_human", "_all"]


def _hour(col: str) -> F.Column:
    return F.date_trunc("hour", F.col(col)).alias("hour_utc")


def transform(
    all_events: DataFrame,
    scoped_events: DataFrame,
    sessions: DataFrame,
    orders: DataFrame,
    params: Mapping[str, Any],
) -> DataFrame:
    """gold.traffic_hourly from every silver event of the dates, the scoped events and sessions
    (consenting humans, see ``sessions.behaviour_scope``) and silver.orders of the dates."""
    everything = all_events.groupBy(_hour("event_time")).agg(
        F.count("*").alias("_all"),
        F.count(F.when(F.col("is_bot"), 1)).alias("bot_events"),
        F.count(F.when(~F.col("is_bot"), 1)).alias("_human"),
    )
    peak = (
        all_events.groupBy(F.date_trunc("second", F.col("event_time")).alias("_second"))
        .count()
        .groupBy(F.date_trunc("hour", F.col("_second")).alias("hour_utc"))
        .agg(F.max("count").alias("peak_events_per_second"))
    )
    human = scoped_events.groupBy(_hour("event_time")).agg(
        F.count("*").alias("events"), F.count_distinct("anonymous_id").alias("unique_visitors")
    )
    started = sessions.groupBy(_hour("session_start")).agg(F.count("*").alias("sessions"))
    placed = orders.groupBy(_hour("created_at")).agg(F.count("*").alias("orders"), F.sum("total").alias("revenue"))
    out = (
        everything.join(peak, "hour_utc", "full")
        .join(human, "hour_utc", "full")
        .join(started, "hour_utc", "full")
        .join(placed, "hour_utc", "full")
        .fillna(0, [*_COUNTS, "peak_events_per_second"])
    )
    local = F.from_utc_timestamp(F.col("hour_utc"), str(params["shop_timezone"])).cast("timestamp_ntz")
    out = out.withColumns(
        {
            "date": F.to_date(F.col("hour_utc")),
            "hour_local": local,
            "no_consent_events": F.col("_human") - F.col("events"),
            "bot_share": F.when(F.col("_all") > 0, F.col("bot_events") / F.col("_all")).otherwise(F.lit(0.0)),
        }
    ).withColumns({"local_date": F.to_date(F.col("hour_local")), "local_hour": F.hour(F.col("hour_local"))})
    return conform(out, TABLE)
