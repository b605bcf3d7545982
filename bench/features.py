"""Feature build benchmark: gold.purchase_time_profile and features.user_daily for a range of as-of dates.

``bench_features`` runs on a home whose silver tables exist (e.g. the benchmark population's) and
builds the ``days`` as-of dates ending the day after the newest silver event date, in one pass
(the backfill path of ``jobs.features.user_daily.build_features``).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.features.user_daily import build_features


def bench_features(spark: SparkSession, settings: Settings, days: int) -> dict[str, Any]:
    """Build ``days`` as-of dates of features on an existing silver home; seconds and rows written."""
    newest = read_table(spark, "silver.events", settings).agg(F.max("event_date")).first()
    if newest is None or newest[0] is None:
        raise ValueError("silver.events is empty: build silver first")
    last = newest[0] + timedelta(days=1)
    first = last - timedelta(days=days - 1)
    started = time.perf_counter()
    built = build_features(spark, first, last, settings)
    seconds = time.perf_counter() - started
    return {
        "days": days,
        "as_of_dates": [str(first), str(last)],
        "seconds": round(seconds, 2),
        "rows": built["feature_rows"],
        "profile_rows": built["profile_rows"],
        "rows_per_second": round(built["feature_rows"] / seconds, 1) if seconds > 0 else None,
        "bot_events_excluded": built["bot_events_excluded"],
        "no_consent_events_excluded": built["no_consent_events_excluded"],
    }
