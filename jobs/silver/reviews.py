"""silver.reviews: review_submitted events of bronze, one row per review, pseudonymised, with their text.

``transform(clickstream, key, params)`` is the pure step: the first received copy of each review
event (the copy silver.events keeps), its corrected time and local date (as silver.events computes
them), pseudonyms exactly as :func:`jobs.silver.events.protect` makes them (``anonymous_id``
always, ``user_id`` only with analytics consent), and the contract's columns. Reviews received more
than ``silver.late_days`` after their date are left out, as silver.events leaves such events out.

``run_reviews(spark, run_date, settings, since=None)`` rewrites silver's window (the dates the
daily silver job rewrites) in one Delta transaction. Review text never leaves this table: gold
publishes aggregates of it only (``jobs.gold.sentiment``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import conform, ensure_table, read_table, replace_dates
from jobs.silver.daily import DEVICE_DATE_MARGIN, window_for
from jobs.silver.events import _first_received, corrected_time, utc_date, utc_wall_clock
from jobs.silver.privacy import hmac_sha256, pseudonym_key

TABLE = "silver.reviews"
EVENT_TYPE = "review_submitted"


def transform(clickstream: DataFrame, key: bytes, params: Mapping[str, Any]) -> DataFrame:
    """One row per review of bronze.clickstream_events rows (pure). ``params`` is conf ``silver``."""
    reviews = clickstream.where(F.col("event_type") == EVENT_TYPE).withColumn("source", F.lit("clickstream"))
    first = reviews.withColumn("_copy", _first_received()).where(F.col("_copy") == 1)
    event_time, _ = corrected_time(params)
    timed = first.withColumn("event_time", event_time).withColumn("event_date", utc_date(F.col("event_time")))
    late = F.greatest(F.datediff(utc_date(F.col("received_at")), F.col("event_date")), F.lit(0))
    consent = F.coalesce(F.col("consent_analytics"), F.lit(False))
    local_time = F.convert_timezone(F.lit("UTC"), F.col("timezone"), utc_wall_clock(F.col("event_time")))
    out = timed.where(late <= F.lit(int(params["late_days"]))).select(
        F.col("event_id").alias("review_id"),
        "event_date",
        "event_time",
        "timezone",
        F.to_date(local_time).alias("local_date"),
        hmac_sha256(F.col("anonymous_id"), key).alias("anonymous_id"),
        F.when(consent, hmac_sha256(F.col("user_id"), key)).alias("user_id"),
        consent.alias("consent_analytics"),
        "product_id",
        "order_id",
        "rating",
        "review_text",
        "language",
        "_ingested_at",
    )
    return conform(out, TABLE)


def run_reviews(spark: SparkSession, run_date: date, settings: Settings, since: date | None = None) -> dict[str, Any]:
    """Rewrite silver.reviews for silver's window of ``run_date`` (since ``since``); rows per date."""
    params = settings["silver"]
    window = window_for(run_date, params, since)
    for name in ("bronze.clickstream_events", TABLE):
        ensure_table(spark, name, settings)
    # Bronze is partitioned by the device's date, silver by the corrected one: one day wider each side.
    lo, hi = window.start - DEVICE_DATE_MARGIN, window.end + DEVICE_DATE_MARGIN
    bronze = read_table(spark, "bronze.clickstream_events", settings).where(
        F.col("event_date").between(F.lit(lo), F.lit(hi)) & (F.col("event_type") == EVENT_TYPE)
    )
    reviews = transform(bronze, pseudonym_key(settings), params)
    replace_dates(
        reviews.where(F.col("event_date").between(F.lit(window.start), F.lit(window.end))),
        TABLE,
        window.start,
        window.end,
        settings,
    )
    rows = (
        read_table(spark, TABLE, settings)
        .where(F.col("event_date").between(F.lit(window.start), F.lit(window.end)))
        .groupBy("event_date")
        .count()
        .orderBy("event_date")
        .collect()  # bounded: one row per date of the window
    )
    return {
        "run_date": str(run_date),
        "window": [str(window.start), str(window.end)],
        "rows": {str(r["event_date"]): int(r["count"]) for r in rows},
    }
