"""The daily job ``gold_customers``: segments, their migration and contact times, on the cadence.

gold.customer_segments, gold.segment_migration_weekly and gold.user_contact_time are built for the
as-of dates on the segments' cadence (conf ``gold.segments``: every ``cadence_days`` on ISO weekday
``as_of_weekday``, Mondays by default) whose inputs changed since the job's last run
(:mod:`jobs.common.manifest`): a rewritten features.user_daily or gold.purchase_time_profile
as-of date on the cadence is built again, with every later one (a rewrite of features reaches every
later as-of date, and cluster ids follow the previous as-of date's model). Runs whose new data
reaches no as-of date on the cadence (six days of seven) record what they consumed and write nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pyspark.sql import SparkSession

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import describe
from jobs.common.tables import ensure_table
from jobs.gold import contact_time, segments

INPUTS = (segments.FEATURES, contact_time.PROFILE, "silver.sessions")
OUTPUTS = (segments.TABLE, segments.MIGRATION, contact_time.TABLE)


def run_customers(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rebuild the customer tables for the cadence as-of dates up to ``run_date + 1`` whose features
    or purchase-time profiles changed since the last run; with ``since``, every cadence as-of date
    after ``since`` up to ``run_date + 1``."""
    params = settings["gold"]["segments"]
    for name in (*INPUTS, *OUTPUTS):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_customers", run_date, INPUTS, run_id=run_id)
    last = run_date + timedelta(days=1)
    changed = {d for d in plan.dates(segments.FEATURES, contact_time.PROFILE) if d <= last}
    if since is not None:
        changed |= {since + timedelta(days=i) for i in range(1, (last - since).days + 1)}
    if changed:  # a rewritten as-of date reaches every later one (cluster ids, migration)
        first = min(changed)
        changed = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    dates = sorted(d for d in changed if segments.is_as_of_date(d, params))
    if not dates:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        print(f"gold.customer_segments {run_date}: no as-of date on the cadence to rebuild", flush=True)
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    built = segments.run_segments(spark, run_date, settings, as_of_dates=dates)
    reached = contact_time.run_contact_time(spark, run_date, settings, as_of_dates=dates)
    users = sum(built["rows"].values())
    rows = {segments.TABLE: users, contact_time.TABLE: sum(reached["rows_by_source"].values())}
    manifest.record(spark, settings, plan, {name: dates for name in OUTPUTS}, rows=rows)
    print(
        f"gold.customer_segments {describe(dates)}: {users:,} customer rows, "
        f"contact times by source {reached['rows_by_source']}",
        flush=True,
    )
    return {"run_date": str(run_date), "dates": describe(dates), "rows": rows}
