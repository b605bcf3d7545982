"""silver.events: clickstream and search events deduplicated, conformed and pseudonymised.

Two pure steps around bot detection (which needs the raw IP and user agent):

``conform(clickstream, search, params)``
    union of the two bronze tables → one row per event_id (the first received copy) → corrected
    time, local time, clean URL and campaign tags, channel, device. Keeps raw ``anonymous_id``,
    ``user_id``, ``ip`` and ``user_agent`` (see :func:`conformed_schema`).
``protect(flagged, key, params)``
    the conformed rows plus ``is_bot``/``bot_reasons`` → pseudonyms, consent, IP prefix, and
    exactly the columns of the ``silver.events`` contract.

``duplicate_counts(clickstream, search)`` counts the copies dropped, per event_date and source,
so that bronze rows = silver rows + duplicates can be reconciled.

Corrected time (Snowplow's derived_tstamp) is :mod:`jobs.common.eventtime`'s: bronze partitions by
the same date, so every copy of an event lies in the bronze partition of its silver date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common import eventtime
from jobs.common.contracts import table
from jobs.common.eventtime import utc_date, utc_wall_clock
from jobs.silver.channels import channel_expr, normalise_tag, url_host
from jobs.silver.privacy import hmac_sha256, truncate_ip
from jobs.silver.useragents import parse_user_agents

TABLE = "silver.events"
SOURCES = ("clickstream", "search")
# Added after conform: by bot detection (is_bot, bot_reasons), by protect (ip_prefix) and by
# sessionization (session_id).
_ADDED_LATER = ("ip_prefix", "is_bot", "bot_reasons", "session_id")
_COPIES_OF = "event_id"


def conformed_schema() -> T.StructType:
    """Columns of ``conform``'s output: the contract's, with raw ``ip``, ``email`` and ``user_agent`` in place
    of ``ip_prefix``, without the bot verdict, and with ``copies`` (bronze rows of the event, 1 when
    it was not resent) last, for reconciliation. Types as in the contract."""
    fields: list[T.StructField] = []
    for f in table(TABLE).spark_schema.fields:
        if f.name == "device_type":
            fields.append(T.StructField("user_agent", T.StringType(), True))
        if f.name == "ip_prefix":
            fields.append(T.StructField("ip", T.StringType(), True))
            # The login e-mail lets the credential-stuffing rule count distinct accounts; protect() drops it.
            fields.append(T.StructField("email", T.StringType(), True))
        if f.name not in _ADDED_LATER:
            fields.append(f)
    fields.append(T.StructField("copies", T.LongType(), False))
    return T.StructType(fields)


def corrected_time(params: Mapping[str, Any]) -> tuple[Column, Column]:
    """``(event_time, clock_skew_seconds)`` from bronze's event_time, sent_at and received_at."""
    return eventtime.corrected_time(params["clock_skew"])


def _union(clickstream: DataFrame, search: DataFrame) -> DataFrame:
    return clickstream.withColumn("source", F.lit("clickstream")).unionByName(
        search.withColumn("source", F.lit("search")), allowMissingColumns=True
    )


def _first_received() -> Column:
    """Rank of each copy of an event: 1 for the first received (ties broken deterministically)."""
    order = Window.partitionBy(_COPIES_OF).orderBy(
        F.col("received_at").asc_nulls_last(),
        F.col("_ingested_at").asc_nulls_last(),
        F.col("_source_file").asc_nulls_last(),
        F.col("source"),
    )
    return F.row_number().over(order)


def conform(clickstream: DataFrame, search: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """One row per distinct event_id of the two bronze frames, conformed but not yet pseudonymised.

    ``params`` is conf ``silver``. Columns and types: :func:`conformed_schema`.
    """
    copies = _union(clickstream, search)
    first = copies.withColumns(
        {"_copy": _first_received(), "copies": F.count(F.lit(1)).over(Window.partitionBy(_COPIES_OF))}
    ).where(F.col("_copy") == 1)
    event_time, skew = corrected_time(params)
    local_time = F.convert_timezone(F.lit("UTC"), F.col("timezone"), utc_wall_clock(F.col("event_time")))
    events = (
        first.withColumns(
            {
                "device_event_time": F.col("event_time"),
                "event_time": event_time,
                "clock_skew_seconds": skew,
            }
        )
        .withColumns(
            {
                "event_date": utc_date(F.col("event_time")),
                "local_time": local_time,
                "page_url": F.regexp_replace("page_url", r"[?#].*$", ""),
                "referrer_host": url_host(F.col("referrer")),
                "utm_source": normalise_tag(F.col("utm_source")),
                "utm_medium": normalise_tag(F.col("utm_medium")),
                "utm_campaign": normalise_tag(F.col("utm_campaign")),
                "top_category": F.nullif(F.trim(F.split_part("category", F.lit(" > "), F.lit(1))), F.lit("")),
            }
        )
        .withColumns(
            {
                "local_date": F.to_date("local_time"),
                "local_hour": F.hour("local_time"),
                "local_day_of_week": F.weekday("local_time") + 1,
                "channel": channel_expr(params),
                "late_days": F.greatest(F.datediff(utc_date(F.col("received_at")), F.col("event_date")), F.lit(0)),
            }
        )
    )
    schema = conformed_schema()
    events = events.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema if f.name in events.columns])
    # Every copy of an event has its user agent: the distinct agents come straight from bronze,
    # without waiting for (or recomputing) the deduplication.
    return parse_user_agents(events, "user_agent", agents_of=copies).select(*schema.fieldNames())


def _corrected_date(params: Mapping[str, Any]) -> Column:
    return utc_date(corrected_time(params)[0])


def duplicate_counts(clickstream: DataFrame, search: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """Copies dropped by :func:`conform`: ``event_date`` (of the kept copy, corrected), ``source``,
    ``duplicates``. One row per date and source that has events, zero when nothing was dropped."""
    ranked = _union(clickstream, search).withColumns(
        {"_copy": _first_received(), "_event_date": _corrected_date(params)}
    )
    per_event = ranked.groupBy("event_id").agg(
        F.min_by(F.struct(F.col("_event_date").alias("event_date"), "source"), F.col("_copy")).alias("kept"),
        (F.count(F.lit(1)) - 1).alias("duplicates"),
    )
    return (
        per_event.groupBy(F.col("kept.event_date").alias("event_date"), F.col("kept.source").alias("source"))
        .agg(F.sum("duplicates").cast("long").alias("duplicates"))
        .select("event_date", "source", "duplicates")
    )


def protect(flagged: DataFrame, key: bytes, params: Mapping[str, Any]) -> DataFrame:
    """Pseudonyms, consent and IP truncation on conformed, bot-flagged events; the contract's columns.

    ``flagged`` is :func:`conform`'s output plus ``is_bot`` and ``bot_reasons``; ``params`` is conf
    ``silver``. The raw ip and user agent do not survive this step.
    """
    privacy = params["privacy"]
    consent = F.coalesce(F.col("consent_analytics"), F.lit(False))
    out = flagged.withColumns(
        {
            "anonymous_id": hmac_sha256(F.col("anonymous_id"), key),
            "user_id": F.when(consent, hmac_sha256(F.col("user_id"), key)),
            "ip_prefix": truncate_ip(F.col("ip"), int(privacy["ipv4_prefix"]), int(privacy["ipv6_prefix"])),
        }
    ).drop("ip", "email", "user_agent")
    fields = [f for f in table(TABLE).spark_schema.fields if f.name != "session_id"]
    return out.select([out[f.name].cast(f.dataType).alias(f.name) for f in fields])
