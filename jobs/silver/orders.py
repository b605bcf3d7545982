"""Silver orders: ``bronze.orders_events`` → order status history, current orders and order lines.

The shop's order system sends one change event per status change (order_created, order_paid,
order_cancelled, order_refunded), each carrying the whole order. Events may be resent (same
event_id) and may arrive late and out of order, so:

* ``silver.order_status_history`` keeps one row per distinct event_id (the first received copy);
  it is written by an insert-only MERGE, so a replayed batch adds nothing.
* ``silver.orders`` keeps one row per order in its latest state. A change replaces the stored state
  only when it is newer: later ``updated_at`` or, at the same instant, a later status in
  ``created < paid < cancelled < refunded`` (the order system's own life cycle). paid_at,
  cancelled_at and refunded_at keep the earliest time each status was seen (``least`` is the
  order-independent form of "keep what we had"), so a late order_paid still fills paid_at of an
  order already refunded. The MERGE is therefore idempotent and commutative: replays, late events
  and any split of the events into batches give the same table.
* ``silver.order_items`` keeps the lines of the latest change that had lines.

``user_id`` and ``anonymous_id`` become keyed pseudonyms; ``customer_email`` and ``customer_phone``
are never selected. The buyer's local time uses the order's time zone, ``Asia/Jakarta`` (WIB, the
zone of most buyers) when the order system sent none.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F

from jobs.common.contracts import table
from jobs.common.tables import conform, ensure_table
from jobs.silver.privacy import hmac_sha256

log = logging.getLogger(__name__)

BRONZE = "bronze.orders_events"
HISTORY = "silver.order_status_history"
ORDERS = "silver.orders"
ITEMS = "silver.order_items"

DEFAULT_TIMEZONE = "Asia/Jakarta"
# An order's life cycle; at equal updated_at the later status wins.
STATUS_PRECEDENCE = {"created": 1, "paid": 2, "cancelled": 3, "refunded": 4}
# Status → column holding the earliest time the order reached it.
MILESTONES = {"paid": "paid_at", "cancelled": "cancelled_at", "refunded": "refunded_at"}
CATEGORY_SEPARATOR = " > "


def status_rank(status: Column) -> Column:
    """Precedence of a status (created 1 … refunded 4; unknown 0)."""
    rank = F.lit(0)
    for name, value in sorted(STATUS_PRECEDENCE.items(), key=lambda kv: kv[1]):
        rank = F.when(status == name, F.lit(value)).otherwise(rank)
    return rank


def distinct_events(bronze_orders: DataFrame) -> DataFrame:
    """One row per event_id: the first received copy (earliest ingestion, then file, for determinism)."""
    first = Window.partitionBy("event_id").orderBy(
        F.col("_ingested_at").asc_nulls_last(),
        F.col("received_at").asc_nulls_last(),
        F.col("_source_file").asc_nulls_last(),
    )
    return (
        bronze_orders.drop("customer_email", "customer_phone")
        .withColumn("_copy", F.row_number().over(first))
        .where(F.col("_copy") == 1)
        .drop("_copy")
    )


def status_history(bronze_orders: DataFrame, key: bytes) -> DataFrame:
    """``silver.order_status_history``: one row per distinct order change event.

    ``key`` is accepted for a uniform job signature; the history carries no personal ids.
    """
    del key
    events = distinct_events(bronze_orders)
    return conform(
        events.select(
            "order_id",
            "event_id",
            "status",
            F.col("updated_at").alias("changed_at"),
            "received_at",
            "payment_method",
            "total",
            "cancel_reason",
            F.to_date("updated_at").alias("change_date"),
        ),
        HISTORY,
    )


def _latest_first() -> WindowSpec:
    """Events of an order, latest state first: updated_at, then status precedence, then event_id."""
    return Window.partitionBy("order_id").orderBy(
        F.col("updated_at").desc(), status_rank(F.col("status")).desc(), F.col("event_id").desc()
    )


def local_time(ts: Column, timezone: Column) -> Column:
    """Wall-clock time in ``timezone`` as timestamp_ntz (the session time zone is UTC in detak)."""
    return F.from_utc_timestamp(ts, timezone).cast("timestamp_ntz")


def current_orders(bronze_orders: DataFrame, key: bytes) -> DataFrame:
    """``silver.orders`` rows from a batch of order change events: each order's latest state.

    Latest = greatest updated_at, ties broken by status precedence (refunded > cancelled > paid >
    created), then the greatest event_id so the choice is deterministic. paid_at, cancelled_at
    and refunded_at are the earliest updated_at of the batch's events with that status.
    """
    events = distinct_events(bronze_orders)
    milestones = events.groupBy("order_id").agg(
        *[
            F.min(F.when(F.col("status") == status, F.col("updated_at"))).alias(column)
            for status, column in MILESTONES.items()
        ],
        # Lines of the latest change that carried any; a change without lines keeps the earlier ones.
        F.max_by(
            F.size("items"),
            F.when(
                F.size("items") > 0,
                F.struct(F.col("updated_at"), status_rank(F.col("status")), F.col("event_id")),
            ),
        ).alias("items_count"),
    )
    latest = (
        events.withColumn("_rank", F.row_number().over(_latest_first()))
        .where(F.col("_rank") == 1)
        .join(milestones, "order_id")
    )
    timezone = F.coalesce(F.col("timezone"), F.lit(DEFAULT_TIMEZONE))
    return conform(
        latest.withColumns(
            {
                "user_id": hmac_sha256(F.col("user_id"), key),
                "anonymous_id": hmac_sha256(F.col("anonymous_id"), key),
                "items_count": F.coalesce(F.col("items_count"), F.lit(0)),
                "last_event_id": F.col("event_id"),
                "order_date": F.to_date("created_at"),
                "local_created_at": local_time(F.col("created_at"), timezone),
                "timezone": timezone,
            }
        ),
        ORDERS,
    )


def order_items(bronze_orders: DataFrame) -> DataFrame:
    """``silver.order_items``: the lines of each order's latest change event that has lines."""
    events = distinct_events(bronze_orders).where(F.size("items") > 0)
    latest = events.withColumn("_rank", F.row_number().over(_latest_first())).where(F.col("_rank") == 1)
    lines = latest.select(
        "order_id",
        F.col("updated_at").alias("changed_at"),
        F.to_date("created_at").alias("order_date"),
        F.posexplode("items").alias("_pos", "item"),
    )
    category = F.col("item.category")
    return conform(
        lines.select(
            "order_id",
            (F.col("_pos") + 1).alias("line_number"),
            "item.product_id",
            "item.product_name",
            category.alias("category"),
            F.when(category.isNotNull(), F.trim(F.split(category, CATEGORY_SEPARATOR, 2)[0])).alias("top_category"),
            "item.brand",
            "item.quantity",
            "item.unit_price",
            (F.col("item.quantity") * F.col("item.unit_price")).alias("line_total"),
            "changed_at",
            "order_date",
        ),
        ITEMS,
    )


# ---------------------------------------------------------------------------------------------
# Delta writes


def _newer(new: str, old: str) -> Column:
    """``new`` is a later state than ``old``: later updated_at, or same instant and later status."""
    return (F.col(f"{new}.updated_at") > F.col(f"{old}.updated_at")) | (
        (F.col(f"{new}.updated_at") == F.col(f"{old}.updated_at"))
        & (status_rank(F.col(f"{new}.status")) > status_rank(F.col(f"{old}.status")))
    )


def merge_orders(spark: SparkSession, updates: DataFrame, path: str) -> None:
    """MERGE ``current_orders`` rows into ``silver.orders`` at ``path`` (idempotent, order-independent).

    New orders are inserted. A stored order takes the update's state only when the update is newer
    (see :func:`_newer`); either way paid_at, cancelled_at and refunded_at become the earliest of
    the stored and the updated value, so a late event can fill them without moving the status back.
    """
    target = ensure_table(spark, ORDERS, path=path)
    milestones: dict[str, str | Column] = {c: F.least(F.col(f"t.{c}"), F.col(f"s.{c}")) for c in MILESTONES.values()}
    fills_milestone = F.lit(False)
    for c in MILESTONES.values():
        fills_milestone = fills_milestone | (
            F.col(f"s.{c}").isNotNull() & (F.col(f"t.{c}").isNull() | (F.col(f"s.{c}") < F.col(f"t.{c}")))
        )
    state: dict[str, str | Column] = {f.name: F.col(f"s.{f.name}") for f in table(ORDERS).spark_schema.fields}
    # A newer change without lines keeps the stored line count.
    items_count = F.when(F.col("s.items_count") > 0, F.col("s.items_count")).otherwise(F.col("t.items_count"))
    (
        target.alias("t")
        .merge(conform(updates, ORDERS).alias("s"), "t.order_id = s.order_id")
        .whenMatchedUpdate(condition=_newer("s", "t"), set={**state, **milestones, "items_count": items_count})
        .whenMatchedUpdate(condition=fills_milestone, set=milestones)
        .whenNotMatchedInsert(values=state)
        .execute()
    )


def merge_status_history(spark: SparkSession, history: DataFrame, path: str) -> None:
    """Insert-only MERGE of ``status_history`` rows: an event already stored is never touched again."""
    target = ensure_table(spark, HISTORY, path=path)
    (
        target.alias("t")
        .merge(
            conform(history, HISTORY).alias("s"),
            # change_date is part of the key so the MERGE prunes partitions.
            "t.change_date = s.change_date AND t.event_id = s.event_id",
        )
        .whenNotMatchedInsertAll()
        .execute()
    )


def merge_order_items(spark: SparkSession, items: DataFrame, path: str) -> None:
    """MERGE ``order_items`` rows: an order's lines are replaced when they come from a newer change.

    Only lines from a change newer than the stored lines of the order are applied; stored lines of
    such an order beyond its new line count are deleted, so an order whose lines shrank keeps no
    stale ones. Lines from an older or the same change are ignored, which makes replays no-ops.
    """
    target = ensure_table(spark, ITEMS, path=path)
    columns = table(ITEMS).spark_schema.fieldNames()
    stored = target.toDF().groupBy("order_id").agg(F.max("changed_at").alias("_stored_at"))
    fresh = (
        conform(items, ITEMS)
        .join(stored, "order_id", "left")
        .where(F.col("_stored_at").isNull() | (F.col("changed_at") > F.col("_stored_at")))
        .select(*columns)
    )
    lines = fresh.groupBy("order_id").agg(F.max("line_number").alias("_lines"))
    stale = target.toDF().join(lines, "order_id").where(F.col("line_number") > F.col("_lines")).select(*columns)
    source = fresh.withColumn("_delete", F.lit(False)).unionByName(stale.withColumn("_delete", F.lit(True)))
    state: dict[str, str | Column] = {f.name: F.col(f"s.{f.name}") for f in table(ITEMS).spark_schema.fields}
    (
        target.alias("t")
        .merge(
            source.alias("s"),
            "t.order_date = s.order_date AND t.order_id = s.order_id AND t.line_number = s.line_number",
        )
        .whenMatchedDelete(condition="s._delete")
        .whenMatchedUpdate(set=state)
        .whenNotMatchedInsert(condition="NOT s._delete", values=state)
        .execute()
    )
