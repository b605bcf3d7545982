import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import table
from jobs.silver.orders import (
    current_orders,
    merge_order_items,
    merge_orders,
    merge_status_history,
    order_items,
    status_history,
)
from tests.conftest import ci_settings

KEY = b"test-key"
UTC = dt.UTC


def ts(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def pseudonym(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


LINES = [
    {
        "product_id": "P1",
        "product_name": "Kopi Gayo 250g",
        "category": "Makanan > Kopi",
        "brand": "Gayo",
        "quantity": 2,
        "unit_price": 50_000,
    },
    {
        "product_id": "P2",
        "product_name": "Gelas",
        "category": None,
        "brand": None,
        "quantity": 1,
        "unit_price": 25_000,
    },
]


def order_event(event_id: str, status: str, updated_at: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A bronze.orders_events row of order O1 (created 11 Nov 02:00 UTC = 10:00 WITA)."""
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": f"order_{status}",
        "event_time": updated_at,
        "received_at": updated_at + dt.timedelta(seconds=1),
        "schema_version": "1",
        "order_id": "O1",
        "cart_id": "C1",
        "user_id": "u-1",
        "anonymous_id": "a-1",
        "status": status,
        "items": LINES,
        "subtotal": 125_000,
        "shipping_cost": 10_000,
        "discount": 5_000,
        "voucher_code": "HEMAT",
        "total": 130_000,
        "currency": "IDR",
        "payment_method": "gopay",
        "created_at": ts(11, 2),
        "updated_at": updated_at,
        "timezone": "Asia/Makassar",
        "region": "Bali",
        "cancel_reason": None,
        "customer_email": "budi@example.id",
        "customer_phone": "+628123456789",
        "event_date": updated_at.date(),
        "_ingested_at": updated_at + dt.timedelta(minutes=5),
        "_source_file": f"file:/landing/orders/{event_id}.jsonl.gz",
        "_line": 1,
        "_run_id": "r1",
        "_batch_id": 0,
    }
    row.update(fields)
    return row


def bronze(spark: SparkSession, *rows: dict[str, Any]) -> DataFrame:
    schema = table("bronze.orders_events").spark_schema
    return spark.createDataFrame([tuple(r[f] for f in schema.fieldNames()) for r in rows], schema)


CREATED = order_event("e-created", "created", ts(11, 2))
PAID = order_event("e-paid", "paid", ts(11, 2, 5))
REFUNDED = order_event("e-refunded", "refunded", ts(13, 5), cancel_reason="damaged")


def expected_order(spark: SparkSession, **fields: Any) -> DataFrame:
    row: dict[str, Any] = {
        "order_id": "O1",
        "cart_id": "C1",
        "user_id": pseudonym("u-1"),
        "anonymous_id": pseudonym("a-1"),
        "status": "refunded",
        "created_at": ts(11, 2),
        "updated_at": ts(13, 5),
        "paid_at": ts(11, 2, 5),
        "cancelled_at": None,
        "refunded_at": ts(13, 5),
        "subtotal": 125_000,
        "shipping_cost": 10_000,
        "discount": 5_000,
        "voucher_code": "HEMAT",
        "total": 130_000,
        "currency": "IDR",
        "payment_method": "gopay",
        "timezone": "Asia/Makassar",
        "region": "Bali",
        "cancel_reason": "damaged",
        "items_count": 2,
        "last_event_id": "e-refunded",
        "order_date": dt.date(2026, 11, 11),
        "local_created_at": dt.datetime(2026, 11, 11, 10, 0),
    }
    row.update(fields)
    schema = table("silver.orders").spark_schema
    return spark.createDataFrame([tuple(row[f] for f in schema.fieldNames())], schema)


def read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def test_out_of_order_events_over_three_merges_end_in_the_latest_state(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "orders")
    for batch in (REFUNDED, CREATED, PAID):
        merge_orders(spark, current_orders(bronze(spark, batch), KEY), path)
    assertDataFrameEqual(read(spark, path), expected_order(spark))


def test_one_batch_gives_the_same_state_as_three(spark: SparkSession) -> None:
    got = current_orders(bronze(spark, PAID, REFUNDED, CREATED), KEY)
    assertDataFrameEqual(got, expected_order(spark))


def test_a_change_without_lines_keeps_the_line_count(spark: SparkSession) -> None:
    got = current_orders(bronze(spark, CREATED, PAID, {**REFUNDED, "items": []}), KEY)
    assertDataFrameEqual(got, expected_order(spark, items_count=2))


def test_equal_updated_at_is_decided_by_status_precedence(spark: SparkSession, tmp_path: Path) -> None:
    cancelled = order_event("e-cancelled", "cancelled", ts(11, 2, 5), cancel_reason="buyer_request")
    path = str(tmp_path / "orders")
    merge_orders(spark, current_orders(bronze(spark, cancelled), KEY), path)
    merge_orders(spark, current_orders(bronze(spark, PAID), KEY), path)
    assertDataFrameEqual(
        read(spark, path),
        expected_order(
            spark,
            status="cancelled",
            updated_at=ts(11, 2, 5),
            cancelled_at=ts(11, 2, 5),
            refunded_at=None,
            cancel_reason="buyer_request",
            last_event_id="e-cancelled",
        ),
    )


def test_missing_timezone_means_jakarta(spark: SparkSession) -> None:
    got = current_orders(bronze(spark, order_event("e-created", "created", ts(11, 2), timezone=None)), KEY)
    assertDataFrameEqual(
        got,
        expected_order(
            spark,
            status="created",
            updated_at=ts(11, 2),
            paid_at=None,
            refunded_at=None,
            cancel_reason=None,
            last_event_id="e-created",
            timezone="Asia/Jakarta",
            local_created_at=dt.datetime(2026, 11, 11, 9, 0),
        ),
    )


def test_replaying_a_batch_changes_nothing(spark: SparkSession, tmp_path: Path) -> None:
    conf = ci_settings(tmp_path / "home")
    lake = Path(conf["paths"]["lake"]) / "silver"
    batch = bronze(spark, CREATED, PAID, REFUNDED, REFUNDED)
    paths = {name: str(lake / name) for name in ("orders", "history", "items")}

    def merge_all() -> None:
        merge_orders(spark, current_orders(batch, KEY), paths["orders"])
        merge_status_history(spark, status_history(batch, KEY), paths["history"])
        merge_order_items(spark, order_items(batch), paths["items"])

    merge_all()
    before = {name: read(spark, p).collect() for name, p in paths.items()}
    versions = {name: DeltaTable.forPath(spark, p).history(1).first()["version"] for name, p in paths.items()}
    merge_all()
    for name, p in paths.items():
        assertDataFrameEqual(read(spark, p), before[name])
        # The replay either commits nothing (insert-only MERGE) or commits a MERGE that changed no row.
        replay = DeltaTable.forPath(spark, p).history().where(F.col("version") > versions[name]).collect()
        for commit in replay:
            changed = {
                k: v
                for k, v in commit["operationMetrics"].items()
                if k.startswith("numTarget") and k.endswith(("Inserted", "Updated", "Deleted"))
            }
            assert set(changed.values()) == {"0"}, (name, changed)


def test_a_resent_event_counts_once_in_history(spark: SparkSession, tmp_path: Path) -> None:
    resent = {**PAID, "_ingested_at": PAID["_ingested_at"] + dt.timedelta(hours=3), "_source_file": "file:/retry"}
    path = str(tmp_path / "history")
    merge_status_history(spark, status_history(bronze(spark, resent, CREATED, PAID), KEY), path)
    merge_status_history(spark, status_history(bronze(spark, resent), KEY), path)
    expected = spark.createDataFrame(
        [
            (
                "O1",
                "e-created",
                "created",
                ts(11, 2),
                ts(11, 2) + dt.timedelta(seconds=1),
                "gopay",
                130_000,
                None,
                dt.date(2026, 11, 11),
            ),
            (
                "O1",
                "e-paid",
                "paid",
                ts(11, 2, 5),
                ts(11, 2, 5) + dt.timedelta(seconds=1),
                "gopay",
                130_000,
                None,
                dt.date(2026, 11, 11),
            ),
        ],
        table("silver.order_status_history").spark_schema,
    )
    assertDataFrameEqual(read(spark, path), expected)


def test_items_are_exploded_with_line_totals(spark: SparkSession) -> None:
    # The refund event carries no lines: the lines come from the latest event that has them.
    got = order_items(bronze(spark, CREATED, PAID, {**REFUNDED, "items": []}))
    expected = spark.createDataFrame(
        [
            (
                "O1",
                1,
                "P1",
                "Kopi Gayo 250g",
                "Makanan > Kopi",
                "Makanan",
                "Gayo",
                2,
                50_000,
                100_000,
                ts(11, 2, 5),
                dt.date(2026, 11, 11),
            ),
            ("O1", 2, "P2", "Gelas", None, None, None, 1, 25_000, 25_000, ts(11, 2, 5), dt.date(2026, 11, 11)),
        ],
        table("silver.order_items").spark_schema,
    )
    assertDataFrameEqual(got, expected)


def test_a_newer_change_with_fewer_lines_replaces_the_lines(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "items")
    merge_order_items(spark, order_items(bronze(spark, CREATED)), path)
    merge_order_items(spark, order_items(bronze(spark, {**PAID, "items": LINES[1:]})), path)
    merge_order_items(spark, order_items(bronze(spark, CREATED)), path)  # late and older: ignored
    expected = spark.createDataFrame(
        [("O1", 1, "P2", "Gelas", None, None, None, 1, 25_000, 25_000, ts(11, 2, 5), dt.date(2026, 11, 11))],
        table("silver.order_items").spark_schema,
    )
    assertDataFrameEqual(read(spark, path), expected)


def test_no_email_or_phone_leaves_bronze(spark: SparkSession) -> None:
    batch = bronze(spark, CREATED, PAID)
    outputs = [current_orders(batch, KEY), status_history(batch, KEY), order_items(batch)]
    for name in ("silver.orders", "silver.order_status_history", "silver.order_items"):
        outputs.append(spark.createDataFrame([], table(name).spark_schema))
    for df in outputs:
        assert not {"customer_email", "customer_phone"} & set(df.columns)
        assert "budi@example.id" not in str(df.collect())


@pytest.mark.integration
def test_simulated_orders_match_the_truth(spark: SparkSession, tmp_path: Path) -> None:
    import pandas as pd

    from jobs.bronze.ingest import ingest_source
    from jobs.simulate import generate

    home = tmp_path / "home"
    conf = ci_settings(home)
    generate(home, dt.date(2026, 11, 10), 2, 150, 7, settings=conf, progress=False, workers=1)
    ingest_source(spark, "orders", conf)
    lake = Path(conf["paths"]["lake"])
    bronze_orders = read(spark, str(lake / "bronze" / "orders_events"))
    # Two daily batches, the second one first: the merge must not care.
    days = sorted(r[0] for r in bronze_orders.select("event_date").distinct().collect())
    path = str(lake / "silver" / "orders")
    for day in reversed(days):
        merge_orders(spark, current_orders(bronze_orders.where(F.col("event_date") == day), KEY), path)
    got = read(spark, path).select("order_id", F.col("status").alias("final_status"), "total")
    truth = pd.read_parquet(home / "truth" / "orders.parquet", columns=["order_id", "final_status", "total"])
    assert len(truth) > 20
    expected = spark.createDataFrame(truth.astype({"total": "int64"}), got.schema)
    assertDataFrameEqual(got, expected)

    # Every change event once in the history; the lines of every order add up to its subtotal.
    history = status_history(bronze_orders, KEY)
    truth_events = pd.read_parquet(home / "truth" / "events.parquet", columns=["event_id", "source"])
    assert history.count() == int((truth_events["source"] == "orders").sum())
    subtotals = order_items(bronze_orders).groupBy("order_id").agg(F.sum("line_total").alias("subtotal"))
    truth_subtotals = pd.read_parquet(home / "truth" / "orders.parquet", columns=["order_id", "subtotal"])
    assertDataFrameEqual(
        subtotals, spark.createDataFrame(truth_subtotals.astype({"subtotal": "int64"}), subtotals.schema)
    )
