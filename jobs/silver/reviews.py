"""silver.reviews: review_submitted events of bronze, one row per review, pseudonymised, with their text.

``transform(clickstream, key, params)`` is the pure step: the first received copy of each review
event (the copy silver.events keeps), its corrected time and local date (as silver.events computes
them), pseudonyms exactly as :func:`jobs.silver.events.protect` makes them (``anonymous_id``
always, ``user_id`` only with analytics consent), and the contract's columns. Reviews received more
than ``silver.late_days`` after their date are left out, as silver.events leaves such events out.

The silver job (:mod:`jobs.silver.daily`) writes it with silver.events, for the same dates. Review
text never leaves this table: gold publishes aggregates of it only (``jobs.gold.sentiment``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.tables import conform
from jobs.silver.events import _first_received, corrected_time, utc_date, utc_wall_clock
from jobs.silver.privacy import hmac_sha256

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
