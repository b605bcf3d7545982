"""Each quarantine reason on hand-written lines, compared as whole frames."""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.validate import validate

SEARCH: dict[str, Any] = {
    "event_id": "e1",
    "event_type": "search",
    "event_time": "2026-11-11T07:01:00+07:00",
    "received_at": "2026-11-11T00:01:02Z",
    "schema_version": "1.0",
    "sent_at": "2026-11-11T07:01:01+07:00",
    "anonymous_id": "a1",
    "user_id": None,
    "page_url": "https://toko.example.id/search?q=hp",
    "page_type": "search",
    "user_agent": "Mozilla/5.0 (Linux; Android 14)",
    "ip": "36.72.1.2",
    "region": "DKI Jakarta",
    "timezone": "Asia/Jakarta",
    "consent_analytics": True,
    "search_id": "s1",
    "query": "hp samsung",
    "filters": {"category": "Elektronik"},
    "page_number": 1,
    "results_count": 42,
}


def line(**changes: Any) -> str:
    event = {**SEARCH, **changes}
    return json.dumps({k: v for k, v in event.items() if v != "<drop>"})


HUGE = line(page_url="https://toko.example.id/" + "x" * 1000)

CASES = [
    ("good", line(), None, None),
    ("good_nullable_missing", line(user_id="<drop>", filters=None), None, None),
    ("blank", "   ", "empty_line", None),
    ("huge", HUGE, "oversized_line", f"line of {len(HUGE.encode())} bytes > 1000"),
    ("truncated", line()[:40], "malformed_json", "not a JSON object"),
    ("array", "[1, 2]", "malformed_json", "not a JSON object"),
    ("unknown", line(event_type="wishlist_add"), "unknown_event_type", "event_type wishlist_add"),
    ("no_type", line(event_type="<drop>"), "unknown_event_type", "event_type missing"),
    ("click_type_in_search", line(event_type="add_to_cart"), "unknown_event_type", "event_type add_to_cart"),
    ("text_number", line(results_count="banyak"), "type_mismatch", "wrong type: results_count"),
    ("bad_time", line(event_time="kemarin"), "type_mismatch", "wrong type: event_time"),
    ("text_bool", line(consent_analytics="yes"), "type_mismatch", "wrong type: consent_analytics"),
    ("no_anon", line(anonymous_id="<drop>"), "missing_required", "missing: anonymous_id"),
    ("null_query", line(query=None, search_id="<drop>"), "missing_required", "missing: search_id, query"),
    ("long_query", line(query="q" * 257), "oversized_field", "query longer than 256"),
    ("bad_enum", line(page_type="moon"), "invalid_value",
     "page_type not in ['home', 'category', 'search', 'product', 'cart', 'checkout', "
     "'order_confirmation', 'account', 'promo', 'other']"),
    ("negative", line(results_count=-1), "invalid_value", "results_count below 0"),
    ("bad_version", line(schema_version="v1"), "invalid_value", "schema_version does not match ^[0-9]+\\.[0-9]+$"),
]  # fmt: skip


def test_each_line_gets_the_first_reason_that_applies(spark: SparkSession) -> None:
    lines = spark.createDataFrame([(name, text) for name, text, _, _ in CASES], "name string, value string")
    got = validate(lines, "search", max_line_bytes=1000).select("name", "reason", "reason_detail")
    expected = spark.createDataFrame(
        [(name, reason, detail) for name, _, reason, detail in CASES],
        "name string, reason string, reason_detail string",
    )
    assertDataFrameEqual(got, expected)


def test_valid_lines_are_parsed_into_contract_types(spark: SparkSession) -> None:
    lines = spark.createDataFrame([(line(),)], "value string")
    got = validate(lines, "search", max_line_bytes=65536).select(
        "p.event_id", "p.event_time", "p.filters", "p.results_count", "p.consent_analytics"
    )
    expected = spark.createDataFrame(
        [("e1", "2026-11-11 00:01:00", {"category": "Elektronik"}, 42, True)],
        "event_id string, event_time string, filters map<string,string>, results_count long, "
        "consent_analytics boolean",
    ).selectExpr("event_id", "cast(event_time as timestamp) event_time", "filters", "results_count",
                 "consent_analytics")  # fmt: skip
    assertDataFrameEqual(got, expected)


def test_order_status_must_match_its_event_type(spark: SparkSession) -> None:
    order = {
        "event_id": "o1", "event_type": "order_paid", "event_time": "2026-11-11T00:10:00+07:00",
        "received_at": "2026-11-10T17:10:01Z", "schema_version": "1.0", "order_id": "o-1",
        "status": "paid", "items": [{"product_id": "p1", "quantity": 2, "unit_price": 15000}],
        "subtotal": 30000, "total": 30000, "currency": "IDR",
        "created_at": "2026-11-11T00:05:00+07:00", "updated_at": "2026-11-11T00:10:00+07:00",
    }  # fmt: skip
    lines = spark.createDataFrame(
        [("ok", json.dumps(order)), ("wrong_status", json.dumps({**order, "status": "created"})),
         ("bad_item", json.dumps({**order, "items": [{"product_id": "p1", "quantity": "dua", "unit_price": 1}]}))],
        "name string, value string",
    )  # fmt: skip
    got = validate(lines, "orders", max_line_bytes=65536).select("name", "reason", "reason_detail")
    expected = spark.createDataFrame(
        [("ok", None, None), ("wrong_status", "invalid_value", "status is not paid"),
         ("bad_item", "type_mismatch", "wrong type in a nested field")],
        "name string, reason string, reason_detail string",
    )  # fmt: skip
    assertDataFrameEqual(got, expected)
