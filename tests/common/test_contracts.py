import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import types as T

from jobs.common import contracts
from jobs.common.contracts import ContractError, json_validator, source_contract, table


def test_spark_schema_of_a_source_is_generated_from_its_json_schemas() -> None:
    schema = source_contract("search").spark_schema
    assert [f.name for f in schema.fields] == [
        "event_id", "event_type", "event_time", "received_at", "schema_version",
        "sent_at", "anonymous_id", "user_id", "page_url", "page_type", "referrer",
        "utm_source", "utm_medium", "utm_campaign", "user_agent", "ip", "region", "timezone",
        "consent_analytics", "page_load_ms",
        "search_id", "query", "filters", "sort", "page_number", "results_count",
        "product_id", "position",
    ]  # fmt: skip
    types = {f.name: f.dataType for f in schema.fields}
    assert types["event_time"] == T.TimestampType()
    assert types["filters"] == T.MapType(T.StringType(), T.StringType(), True)
    assert types["results_count"] == T.LongType()
    assert types["consent_analytics"] == T.BooleanType()
    assert all(f.nullable for f in schema.fields)
    assert schema["query"].metadata["comment"] == "Query text as typed."


def test_orders_items_become_an_array_of_structs() -> None:
    items = source_contract("orders").spark_schema["items"].dataType
    assert items == T.ArrayType(
        T.StructType(
            [
                T.StructField("product_id", T.StringType()),
                T.StructField("product_name", T.StringType()),
                T.StructField("category", T.StringType()),
                T.StructField("brand", T.StringType()),
                T.StructField("quantity", T.LongType()),
                T.StructField("unit_price", T.LongType()),
            ]
        )
    )


def test_every_event_type_of_the_design_has_a_contract() -> None:
    assert sorted(source_contract("clickstream").event_types) == sorted(
        [
            "page_view", "product_view", "product_list_view", "product_list_click", "add_to_cart",
            "remove_from_cart", "cart_view", "begin_checkout", "add_shipping_info", "add_payment_info",
            "apply_coupon", "payment_failed", "error", "login", "page_ping", "review_submitted",
        ]
    )  # fmt: skip
    assert sorted(source_contract("search").event_types) == ["search", "search_result_click"]
    assert sorted(source_contract("orders").event_types) == [
        "order_cancelled", "order_created", "order_paid", "order_refunded",
    ]  # fmt: skip


def test_bronze_table_contract_puts_ingestion_columns_after_the_event_columns() -> None:
    t = table("bronze.orders_events")
    names = [c.name for c in t.columns]
    assert names[-6:] == ["event_date", "_ingested_at", "_source_file", "_line", "_run_id", "_batch_id"]
    assert names[:2] == ["event_id", "event_type"]
    assert t.partition_by == ["event_date"]
    assert t.spark_schema["_batch_id"].dataType == T.LongType()
    assert table("bronze.ingest_runs").spark_schema["quarantined_by_reason"].dataType == T.MapType(
        T.StringType(), T.LongType(), True
    )


GOOD_PAID = {
    "event_id": "o-1-paid",
    "event_type": "order_paid",
    "event_time": "2026-11-11T00:10:00+07:00",
    "received_at": "2026-11-10T17:10:01Z",
    "schema_version": "1.0",
    "order_id": "o-1",
    "status": "paid",
    "items": [{"product_id": "p1", "quantity": 2, "unit_price": 15000}],
    "subtotal": 30000,
    "total": 30000,
    "currency": "IDR",
    "created_at": "2026-11-11T00:05:00+07:00",
    "updated_at": "2026-11-11T00:10:00+07:00",
}


def test_json_validator_accepts_a_good_event_and_names_each_fault() -> None:
    v = json_validator("orders", "order_paid")
    assert list(v.iter_errors(GOOD_PAID)) == []
    bad = {**GOOD_PAID, "status": "created", "total": "30rb"}
    del bad["order_id"]
    messages = sorted(e.message for e in v.iter_errors(bad))
    assert messages == [
        "'30rb' is not of type 'integer'",
        "'order_id' is a required property",
        "'paid' was expected",
    ]


def test_conflicting_column_types_across_event_types_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(contracts.schemas_dir(), schemas)
    path = schemas / "events" / "search" / "search_result_click.schema.json"
    doc = json.loads(path.read_text())
    doc["properties"]["position"] = {"type": "string", "description": "wrongly typed"}
    doc["properties"]["query"] = {"type": "integer", "description": "conflicts with search.query"}
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("DETAK_SCHEMAS_DIR", str(schemas))
    contracts.source_contract.cache_clear()
    try:
        with pytest.raises(ContractError, match="column 'query' is string in one event type and bigint"):
            contracts.source_contract("search")
    finally:
        monkeypatch.undo()
        contracts.source_contract.cache_clear()
