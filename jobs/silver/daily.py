"""The silver job: bronze → silver, for exactly the dates that got new bronze rows.

Incremental by data, not by calendar (:mod:`jobs.common.manifest`): a run reads the rows inserted
into the bronze tables since the versions its last run consumed (Delta's change data feed), takes
their event dates, whatever their age, and rewrites those dates of silver (one Delta transaction per
table), plus the day before and the day after each of them: a session or a bot's burst may cross
midnight, so a new event can change the sessions of its neighbours. Dates after the run date wait
for a later run. A run with no new bronze rows does nothing.

A rewritten date is built from every bronze row of the date and one context day on each side
(bronze is partitioned by the same corrected event date, :mod:`jobs.common.eventtime`), so it
comes out exactly as a full rebuild makes it: N runs in any rhythm give the same tables as one
run over everything (a test proves it), and re-running changes nothing.

Orders consume the new bronze order events directly: their MERGEs are idempotent and
order-independent (:mod:`jobs.silver.orders`), so an order event is merged whatever its date.

Late data: an event received (collector's ``received_at``) more than ``late_days`` after its
event date is counted as too late in ``silver.reconciliation`` and left out of silver; it stays in
bronze, and the quality gate warns about the date. Lateness is measured on the collector's clock,
not on when ingestion ran, so a backfill gives the same answer as the daily runs did.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import around, as_date, describe, in_dates
from jobs.common.spark import materialize
from jobs.common.tables import conform, ensure_table, read_table, replace_partitions, table_path
from jobs.silver import bots, events, identity, orders, reviews, sessions
from jobs.silver.privacy import check_key, hmac_sha256, pseudonym_key

BRONZE_EVENTS = ("bronze.clickstream_events", "bronze.search_events")
BRONZE_ORDERS = "bronze.orders_events"
INPUTS = (*BRONZE_EVENTS, BRONZE_ORDERS)
#: A session or an actor's burst may cross midnight: a date is built with this many days of
#: context on each side, and a new event also rewrites the dates this close to its own.
CONTEXT_DAYS = 1


def build(
    click: DataFrame,
    search: DataFrame,
    dates: set[date],
    params: dict[str, Any],
    key: bytes,
    run_date: date | None = None,
) -> dict[str, DataFrame]:
    """Every silver events output for ``dates`` from bronze rows (pure: no reads, no writes).

    ``click`` and ``search`` must hold every bronze row of ``dates`` and of the
    :data:`CONTEXT_DAYS` around them. Sessions come out unstitched: :func:`run_silver` stitches
    them to accounts after merging the dates' identity pairs (``identity.stitch_sessions``).
    ``run_date`` is recorded in the reconciliation rows.
    """
    context = around(dates, CONTEXT_DAYS, CONTEXT_DAYS)
    # Every output below derives from these two frames: materialize them so each Delta write
    # neither recomputes nor re-plans the whole chain from bronze.
    conformed = events.conform(click, search, params)
    in_scope = materialize(conformed.where(in_dates("event_date", context)))
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
    silver_events = labelled.where(in_dates("event_date", dates))

    humans = labelled.where(~F.col("is_bot"))
    silver_sessions = sessions.sessions(humans, None).where(in_dates("session_date", dates))
    verdicts = verdicts_raw.where(in_dates("verdict_date", dates)).withColumn("actor", hmac_sha256(F.col("actor"), key))

    reconciliation = (
        in_scope.where(in_dates("event_date", dates))
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
        .withColumn("run_date", F.lit(run_date or max(dates)))
    )
    return {
        "silver.events": conform(silver_events, "silver.events"),
        "silver.sessions": silver_sessions,
        "silver.actor_verdicts": conform(verdicts, "silver.actor_verdicts"),
        "silver.reconciliation": conform(reconciliation, "silver.reconciliation"),
        "silver.reviews": reviews.transform(click.where(F.col("event_type") == reviews.EVENT_TYPE), key, params).where(
            in_dates("event_date", dates)
        ),
        "identity_pairs": identity.identity_pairs(silver_events),
    }


PARTITION_COLUMN = {
    "silver.events": "event_date",
    "silver.sessions": "session_date",
    "silver.actor_verdicts": "verdict_date",
    "silver.reconciliation": "event_date",
    "silver.reviews": "event_date",
}
ORDER_TABLES = ("silver.orders", "silver.order_items", "silver.order_status_history")
OUTPUTS = (*PARTITION_COLUMN, *ORDER_TABLES, "silver.identity_map")


def event_dates(plan: manifest.Plan, run_date: date, force: set[date] | None = None) -> tuple[set[date], set[date]]:
    """``(dates to rewrite now, dates left for a later run)`` from the bronze dates that changed.

    Each changed date brings its neighbours (:data:`CONTEXT_DAYS`); dates after ``run_date`` wait.
    ``force`` adds dates to rebuild whether or not they changed (a backfill after a rule change).
    """
    changed = plan.dates(*BRONZE_EVENTS) | (force or set())
    wanted = around(changed, CONTEXT_DAYS, CONTEXT_DAYS)
    return {d for d in wanted if d <= run_date}, {d for d in changed if d > run_date}


def run_silver(
    spark: SparkSession,
    run_date: date,
    settings: Settings,
    since: date | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Bring silver up to date with bronze for dates up to ``run_date``; return what was done.

    ``since`` also rebuilds every date from ``since`` to ``run_date`` (a backfill after a change of
    rules), besides the dates with new bronze rows.
    """
    params = settings["silver"]
    key = pseudonym_key(settings)  # refuses to start without a key where the demo key is not allowed
    check_key(settings, key, record=True)  # nor with another key than the lake's pseudonyms were made with
    for name in (*INPUTS, *OUTPUTS):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "silver", run_date, INPUTS, run_id=run_id)
    force = {since + timedelta(days=i) for i in range((run_date - since).days + 1)} if since else set()
    dates, later = event_dates(plan, run_date, force)
    # Bronze keeps maintenance.bronze_retention_days: an older date cannot be rebuilt from it, so
    # new rows for one (far beyond late_days, so too late anyway) stay in bronze and are reported.
    horizon = run_date - timedelta(days=int(settings["maintenance"]["bronze_retention_days"]) - 1)
    beyond = {d for d in dates if d < horizon}
    dates -= beyond
    new_orders = plan.changed.get(BRONZE_ORDERS) and plan.consumed.get(BRONZE_ORDERS) != plan.versions[BRONZE_ORDERS]
    report: dict[str, Any] = {
        "run_date": str(run_date),
        "dates": describe(dates),
        "pending": describe(later),
        "beyond_bronze_retention": describe(beyond),
    }
    if not dates and not new_orders and later == plan.pending:
        report["rows"] = []
        report["noop"] = True
        return report
    written: dict[str, set[date]] = {}
    if dates:
        context = around(dates, CONTEXT_DAYS, CONTEXT_DAYS)
        click, search = (plan.read(spark, t, settings).where(in_dates("event_date", context)) for t in BRONZE_EVENTS)
        outputs = build(click, search, dates, params, key, run_date)
        identity.merge_identity(spark, outputs.pop("identity_pairs"), table_path("silver.identity_map", settings))
        # Read the map after the merge, so these dates' own logins can stitch their sessions.
        identity_map = read_table(spark, "silver.identity_map", settings)
        outputs["silver.sessions"] = conform(
            identity.stitch_sessions(outputs["silver.sessions"], identity_map), "silver.sessions"
        )
        for name, df in outputs.items():
            replace_partitions(df, name, dates, settings)
            written[name] = set(dates)
        written["silver.identity_map"] = set()
    if new_orders:
        written.update(_merge_orders(spark, plan, settings, key))
    spark.catalog.clearCache()
    manifest.record(spark, settings, plan, written, pending=later)
    rows = (
        read_table(spark, "silver.reconciliation", settings)
        .where(in_dates("event_date", dates))
        .orderBy("event_date", "source")
        .collect()  # bounded: the rewritten days × 2 sources
    )
    report["rows"] = rows
    return report


def _merge_orders(spark: SparkSession, plan: manifest.Plan, settings: Settings, key: bytes) -> dict[str, set[date]]:
    """MERGE the new bronze order events into the three order tables; the dates each one touched."""
    new = materialize(plan.new_rows(spark, BRONZE_ORDERS, settings))
    current = materialize(orders.current_orders(new, key))
    history = orders.status_history(new, key)
    orders.merge_orders(spark, current, table_path("silver.orders", settings))
    orders.merge_order_items(spark, orders.order_items(new), table_path("silver.order_items", settings))
    orders.merge_status_history(spark, history, table_path("silver.order_status_history", settings))

    def dates_of(df: DataFrame, col: str) -> set[date]:
        rows = df.select(col).where(F.col(col).isNotNull()).distinct().collect()  # bounded: one row per date
        return {as_date(r[0]) for r in rows}

    order_dates = dates_of(current, "order_date")
    return {
        "silver.orders": order_dates,
        "silver.order_items": order_dates,
        "silver.order_status_history": dates_of(history, "change_date"),
    }
