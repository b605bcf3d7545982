"""The daily silver job: bronze → silver for one logical date, incrementally and idempotently.

For run date D the job rewrites the partitions of D - ``lookback_days`` .. D (the *window*) and
reads one more day before it as *context*, so that sessions and bot verdicts that began before
the window are recognised as such and not cut at its edge. Orders and the identity map are
maintained by MERGE, which is idempotent. Because every partition is rewritten by the last run
whose window covers it, N daily runs give the same tables as one run over the whole range (a test
proves it).

Late data: an event received (collector's ``received_at``) more than ``late_days`` after its
event date is counted as too late in ``silver.reconciliation`` and left out of silver; it stays
in bronze. Lateness is measured on the collector's clock, not on when ingestion ran, so a
backfill gives the same answer as the daily runs did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.spark import materialize
from jobs.common.tables import conform, ensure_table, read_table, replace_dates, table_path
from jobs.silver import bots, events, identity, orders, sessions
from jobs.silver.privacy import hmac_sha256, pseudonym_key

#: Device clocks may be off by hours: bronze is partitioned by the device's date, silver by the
#: corrected one, so bronze is read one day wider on each side.
DEVICE_DATE_MARGIN = timedelta(days=1)
CONTEXT = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    @property
    def context_start(self) -> date:
        return self.start - CONTEXT

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def window_for(run_date: date, params: dict[str, Any], since: date | None = None) -> Window:
    """The dates the run for ``run_date`` rewrites; with ``since``, those of every daily run since .. run_date."""
    lookback = int(params["lookback_days"])
    if lookback < int(params["late_days"]):
        raise ValueError("silver.lookback_days must be at least silver.late_days")
    if since is not None and since > run_date:
        raise ValueError(f"since {since} is after the run date {run_date}")
    return Window((since or run_date) - timedelta(days=lookback), run_date)


def _between(col: str, start: date, end: date) -> Any:
    return F.col(col).between(F.lit(start), F.lit(end))


def build(
    click: DataFrame,
    search: DataFrame,
    bronze_orders: DataFrame,
    window: Window,
    params: dict[str, Any],
    key: bytes,
) -> dict[str, DataFrame]:
    """Every silver output for ``window`` from bronze rows (pure: no reads, no writes).

    Sessions come out unstitched: :func:`run_silver` stitches them to accounts after merging the
    window's identity pairs (``identity.stitch_sessions``).
    """
    # Every output below derives from these two frames: materialize them so each Delta write
    # neither recomputes nor re-plans the whole chain from bronze.
    conformed = events.conform(click, search, params)
    in_scope = materialize(conformed.where(_between("event_date", window.context_start, window.end)))
    too_late = F.col("late_days") > F.lit(int(params["late_days"]))
    kept = in_scope.where(~too_late)

    # Verdicts flag the events and are a table of their own: computed once (a few thousand rows).
    verdicts_raw = materialize(bots.detect_actors(kept, params))
    flagged = bots.flag_events(kept, verdicts_raw)
    protected = events.protect(flagged, key, params)
    # Human events carry their session; bots' events stay in silver.events with none.
    sessionized = sessions.sessionize(protected.where(~F.col("is_bot")), params)
    labelled = materialize(
        sessionized.unionByName(protected.where(F.col("is_bot")).withColumn("session_id", F.lit(None).cast("string")))
    )
    silver_events = labelled.where(_between("event_date", window.start, window.end))

    humans = labelled.where(~F.col("is_bot"))
    silver_sessions = sessions.sessions(humans, None).where(_between("session_date", window.start, window.end))
    verdicts = verdicts_raw.where(_between("verdict_date", window.start, window.end)).withColumn(
        "actor", hmac_sha256(F.col("actor"), key)
    )

    history = orders.status_history(bronze_orders, key).where(_between("change_date", window.start, window.end))

    reconciliation = (
        in_scope.where(_between("event_date", window.start, window.end))
        .groupBy("event_date", "source")
        .agg(
            F.sum("copies").alias("bronze_rows"),
            F.sum(F.col("copies") - 1).alias("duplicates"),
            F.count(F.when(too_late, 1)).alias("too_late"),
        )
        .join(
            silver_events.groupBy("event_date", "source").agg(
                F.count("*").alias("silver_rows"),
                F.count(F.when(F.col("is_bot"), 1)).alias("bot_events"),
                F.count(F.when(~F.col("consent_analytics"), 1)).alias("no_consent_events"),
            ),
            ["event_date", "source"],
            "left",
        )
        .fillna(0, ["silver_rows", "bot_events", "no_consent_events"])
        .withColumn("run_date", F.lit(window.end))
    )
    return {
        "silver.events": conform(silver_events, "silver.events"),
        "silver.sessions": silver_sessions,
        "silver.actor_verdicts": conform(verdicts, "silver.actor_verdicts"),
        "silver.order_status_history": conform(history, "silver.order_status_history"),
        "silver.reconciliation": conform(reconciliation, "silver.reconciliation"),
        "identity_pairs": identity.identity_pairs(silver_events),
    }


PARTITION_COLUMN = {
    "silver.events": "event_date",
    "silver.sessions": "session_date",
    "silver.actor_verdicts": "verdict_date",
    "silver.order_status_history": "change_date",
    "silver.reconciliation": "event_date",
}


def replace_window(df: DataFrame, name: str, window: Window, settings: Settings) -> None:
    """Atomically replace the window's partitions of a table (one Delta transaction)."""
    replace_dates(df, name, window.start, window.end, settings)


def run_silver(spark: SparkSession, run_date: date, settings: Settings, since: date | None = None) -> dict[str, Any]:
    """Run the silver job for ``run_date`` (or the dates since .. run_date); return its reconciliation rows."""
    params = settings["silver"]
    window = window_for(run_date, params, since)
    key = pseudonym_key(settings)
    bronze = ["bronze.clickstream_events", "bronze.search_events", "bronze.orders_events"]
    # A source that has delivered nothing yet is normal: its bronze table is simply empty.
    for name in [*bronze, *PARTITION_COLUMN, "silver.orders", "silver.order_items", "silver.identity_map"]:
        ensure_table(spark, name, settings)
    lo, hi = window.context_start - DEVICE_DATE_MARGIN, window.end + DEVICE_DATE_MARGIN
    click = read_table(spark, "bronze.clickstream_events", settings).where(_between("event_date", lo, hi))
    search = read_table(spark, "bronze.search_events", settings).where(_between("event_date", lo, hi))
    bronze_orders = read_table(spark, "bronze.orders_events", settings).where(_between("event_date", lo, hi))

    outputs = build(click, search, bronze_orders, window, params, key)
    identity.merge_identity(spark, outputs.pop("identity_pairs"), table_path("silver.identity_map", settings))
    # Read the map after the merge, so this window's own logins can stitch its sessions.
    identity_map = read_table(spark, "silver.identity_map", settings)
    outputs["silver.sessions"] = conform(
        identity.stitch_sessions(outputs["silver.sessions"], identity_map), "silver.sessions"
    )
    for name, df in outputs.items():
        replace_window(df, name, window, settings)

    # Orders are MERGEd: an order's state only moves forward, whatever order its events arrive in.
    orders.merge_orders(spark, orders.current_orders(bronze_orders, key), table_path("silver.orders", settings))
    orders.merge_order_items(spark, orders.order_items(bronze_orders), table_path("silver.order_items", settings))
    spark.catalog.clearCache()
    rows = (
        read_table(spark, "silver.reconciliation", settings)
        .where(_between("event_date", window.start, window.end))
        .orderBy("event_date", "source")
        .collect()  # bounded: the window's days × 2 sources
    )
    return {"run_date": str(run_date), "window": [str(window.start), str(window.end)], "rows": rows}
