"""Tiny frames of a table's contract for unit tests: name the columns a test cares about, the rest are null."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.common.contracts import table

T0 = dt.datetime(2026, 11, 11, 1, 0, 0)


def at(minutes: float = 0, seconds: float = 0, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes, seconds=seconds)


def rows_of(spark: SparkSession, name: str, rows: list[dict[str, Any]]) -> DataFrame:
    """A frame with every column of ``name``'s contract (all nullable here); unnamed values are null."""
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in table(name).spark_schema.fields])
    unknown = {k for r in rows for k in r} - set(schema.fieldNames())
    if unknown:
        raise KeyError(f"not columns of {name}: {sorted(unknown)}")
    return spark.createDataFrame([tuple(r.get(f) for f in schema.fieldNames()) for r in rows], schema)


def event(event_id: str, when: dt.datetime, event_type: str, session: str = "s1", **fields: Any) -> dict[str, Any]:
    """A silver.events row of a consenting human in ``session``."""
    base = {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": when,
        "event_date": when.date(),
        "session_id": session,
        "anonymous_id": f"dev-{session}",
        "is_bot": False,
        "consent_analytics": True,
        "page_type": "other",
    }
    return {**base, **fields}


def session(session_id: str, start: dt.datetime, end: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A silver.sessions row."""
    base = {
        "session_id": session_id,
        "anonymous_id": f"dev-{session_id}",
        "session_start": start,
        "session_end": end,
        "session_date": start.date(),
        "local_start": start + dt.timedelta(hours=7),
        "duration_seconds": int((end - start).total_seconds()),
        "events": 1,
        "page_views": 1,
        "product_views": 0,
        "searches": 0,
        "add_to_carts": 0,
        "landing_page_type": "home",
        "exit_page_type": "home",
        "channel": "direct",
        "device_type": "mobile",
        "region": "DKI Jakarta",
        "timezone": "Asia/Jakarta",
        "consent_analytics": True,
    }
    return {**base, **fields}
