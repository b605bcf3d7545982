"""Event time as detak trusts it: the device's clock corrected by the collector's (Snowplow's
derived timestamp), and its UTC date, which partitions bronze and silver alike.

The device's clock may be wrong, but the delay it measured between the event and sending it is
right, and the collector's clock is trusted, so ``event_time = received_at - (sent_at -
device_event_time)``. Without ``sent_at`` (order events come from the shop's own system), or when
the device clock is off by no more than ``clock_skew.correct_above_seconds``, the device time stays.
Dates are UTC dates whatever Spark's session time zone is.

Bronze partitions by this date, so that every copy of an event, late or not, lies in the partition
of the date silver gives it: a silver date is rebuilt from exactly one bronze partition (plus its
neighbours for sessions that cross midnight), whatever the device's clock said.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

_EPOCH_NTZ = "1970-01-01 00:00:00"


def utc_wall_clock(ts: Column) -> Column:
    """The UTC wall-clock time of an instant as timestamp_ntz, independent of the session time zone."""
    return F.timestamp_add("MICROSECOND", F.unix_micros(ts), F.lit(_EPOCH_NTZ).cast("timestamp_ntz"))


def utc_date(ts: Column) -> Column:
    """UTC date of an instant, independent of the session time zone."""
    return F.to_date(utc_wall_clock(ts))


def corrected_time(
    clock_skew: Mapping[str, Any],
    event_time: Column | None = None,
    sent_at: Column | None = None,
    received_at: Column | None = None,
) -> tuple[Column, Column]:
    """``(event_time, clock_skew_seconds)`` from the delivered event_time, sent_at and received_at.

    ``clock_skew`` is conf ``silver.clock_skew``; the columns default to the ones of those names.
    """
    device_ts = F.col("event_time") if event_time is None else event_time
    sent_ts = F.col("sent_at") if sent_at is None else sent_at
    received_ts = F.col("received_at") if received_at is None else received_at
    device, sent, received = F.unix_micros(device_ts), F.unix_micros(sent_ts), F.unix_micros(received_ts)
    skew_micros = sent - received
    threshold = float(clock_skew["correct_above_seconds"]) * 1_000_000
    corrected = F.timestamp_micros(received - (sent - device))
    fixed = F.when(F.abs(skew_micros) > threshold, corrected).otherwise(device_ts)
    return fixed, (skew_micros / F.lit(1_000_000.0)).cast("double")
