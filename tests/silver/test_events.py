"""silver.events transforms: dedupe, corrected and local time, conformed fields, privacy, and an
end-to-end check of the corrected time against the simulator's truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.silver.events import conform, conformed_schema, duplicate_counts, protect
from tests.conftest import ci_settings

T0 = dt.datetime(2026, 11, 10, 16, 30)  # a Tuesday, 16:30 UTC
DAY = dt.date(2026, 11, 10)
UA_WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dict(ci_settings(tmp_path_factory.mktemp("events_home"))["silver"])


def bronze(spark: SparkSession, source: str, rows: list[dict[str, Any]]) -> DataFrame:
    """Bronze rows of ``source`` with ordinary defaults for every field a test does not set."""
    schema = table(f"bronze.{source}_events").spark_schema
    defaults: dict[str, Any] = {
        "event_type": "page_view" if source == "clickstream" else "search",
        "event_time": T0,
        "sent_at": T0,
        "received_at": T0,
        "schema_version": "1.0",
        "anonymous_id": "dev-1",
        "page_url": "https://www.tokodetak.id/",
        "page_type": "home",
        "user_agent": UA_WINDOWS_CHROME,
        "ip": "36.72.1.2",
        "region": "DKI Jakarta",
        "timezone": "Asia/Jakarta",
        "consent_analytics": True,
        "event_date": DAY,
        "_ingested_at": dt.datetime(2026, 11, 10, 17, 0),
        "_source_file": "file:/landing/part-0.jsonl.gz",
        "_line": 1,
        "_run_id": "run-1",
        "_batch_id": 0,
    }
    data = [tuple({**defaults, **row}.get(f.name) for f in schema.fields) for row in rows]
    return spark.createDataFrame(data, schema)


def no_search(spark: SparkSession) -> DataFrame:
    return bronze(spark, "search", [])


def test_output_has_the_conformed_columns(spark: SparkSession, params: dict[str, Any]) -> None:
    out = conform(bronze(spark, "clickstream", [{"event_id": "e1"}]), no_search(spark), params)
    contract = [f.name for f in table("silver.events").spark_schema.fields]
    expected = [c for c in contract if c not in ("ip_prefix", "is_bot", "bot_reasons", "session_id")]
    expected.insert(expected.index("device_type"), "user_agent")
    expected.insert(expected.index("region"), "ip")
    expected.insert(expected.index("region"), "email")  # for the credential-stuffing rule; protect() drops it
    expected.append("copies")
    assert out.columns == expected == conformed_schema().fieldNames()


def test_dedupe_keeps_the_first_received_copy(spark: SparkSession, params: dict[str, Any]) -> None:
    t = dt.datetime(2026, 11, 10, 10, 0)
    clicks = bronze(
        spark,
        "clickstream",
        [
            # e1: the copy in the later file was received earlier, so it wins.
            {"event_id": "e1", "received_at": t + dt.timedelta(seconds=5), "page_url": "https://s/copy-a",
             "_ingested_at": t + dt.timedelta(minutes=10), "_source_file": "f-10h"},
            {"event_id": "e1", "received_at": t + dt.timedelta(seconds=2), "page_url": "https://s/copy-b",
             "_ingested_at": t + dt.timedelta(hours=3), "_source_file": "f-13h"},
            # e2: same received_at; the copy that reached bronze first wins.
            {"event_id": "e2", "received_at": t, "page_url": "https://s/copy-c",
             "_ingested_at": t + dt.timedelta(hours=2), "_source_file": "f-a"},
            {"event_id": "e2", "received_at": t, "page_url": "https://s/copy-d",
             "_ingested_at": t + dt.timedelta(hours=1), "_source_file": "f-b"},
            # e3: same received_at and _ingested_at; the smaller file name wins.
            {"event_id": "e3", "received_at": t, "page_url": "https://s/copy-e", "_ingested_at": t,
             "_source_file": "f-2"},
            {"event_id": "e3", "received_at": t, "page_url": "https://s/copy-f", "_ingested_at": t,
             "_source_file": "f-1"},
            {"event_id": "e4", "received_at": t, "page_url": "https://s/only", "_ingested_at": t},
        ],
    )  # fmt: skip
    searches = bronze(spark, "search", [{"event_id": "s1", "received_at": t, "page_url": "https://s/search"}])
    out = conform(clicks, searches, params).select(
        "event_id", "source", "page_url", "received_at", "_ingested_at", "copies"
    )
    expected = [
        ("e1", "clickstream", "https://s/copy-b", t + dt.timedelta(seconds=2), t + dt.timedelta(hours=3), 2),
        ("e2", "clickstream", "https://s/copy-d", t, t + dt.timedelta(hours=1), 2),
        ("e3", "clickstream", "https://s/copy-f", t, t, 2),
        ("e4", "clickstream", "https://s/only", t, t, 1),
        ("s1", "search", "https://s/search", t, dt.datetime(2026, 11, 10, 17, 0), 1),
    ]
    assertDataFrameEqual(out, expected)
    counts = duplicate_counts(clicks, searches, params)
    assertDataFrameEqual(counts, [(DAY, "clickstream", 3), (DAY, "search", 0)])


def test_corrected_time_undoes_a_wrong_device_clock(spark: SparkSession, params: dict[str, Any]) -> None:
    true = dt.datetime(2026, 11, 10, 23, 40, 0, 250_000)
    ahead = dt.timedelta(minutes=45)
    clicks = bronze(
        spark,
        "clickstream",
        [
            # Device 45 minutes ahead; sent 3 s after the event; no network delay.
            {"event_id": "ahead", "event_time": true + ahead, "sent_at": true + ahead + dt.timedelta(seconds=3),
             "received_at": true + dt.timedelta(seconds=3)},
            # Device 90 minutes behind, across UTC midnight the other way.
            {"event_id": "behind", "event_time": true + dt.timedelta(minutes=30) - dt.timedelta(minutes=90),
             "sent_at": true + dt.timedelta(minutes=30, seconds=1) - dt.timedelta(minutes=90),
             "received_at": true + dt.timedelta(minutes=30, seconds=1, milliseconds=500)},
            # No sent_at: nothing to measure the skew with, the device time stays.
            {"event_id": "unsent", "event_time": true, "sent_at": None, "received_at": true + dt.timedelta(hours=1)},
        ],
    )  # fmt: skip
    out = conform(clicks, no_search(spark), params).select(
        "event_id", "event_time", "device_event_time", "clock_skew_seconds", "event_date"
    )
    expected = [
        ("ahead", true, true + ahead, 2700.0, DAY),
        ("behind", dt.datetime(2026, 11, 11, 0, 10, 0, 750_000), dt.datetime(2026, 11, 10, 22, 40, 0, 250_000),
         -5400.5, dt.date(2026, 11, 11)),
        ("unsent", true, true, None, DAY),
    ]  # fmt: skip
    assertDataFrameEqual(out, expected)


def test_small_skews_below_the_threshold_are_left_alone(spark: SparkSession, params: dict[str, Any]) -> None:
    tolerant = {**params, "clock_skew": {"correct_above_seconds": 60}}
    t = dt.datetime(2026, 11, 10, 8, 0)
    clicks = bronze(
        spark,
        "clickstream",
        [
            {"event_id": "small", "event_time": t, "sent_at": t + dt.timedelta(seconds=2),
             "received_at": t + dt.timedelta(seconds=1)},
            {"event_id": "large", "event_time": t, "sent_at": t + dt.timedelta(seconds=2),
             "received_at": t - dt.timedelta(minutes=5)},
        ],
    )  # fmt: skip
    out = conform(clicks, no_search(spark), tolerant).select("event_id", "event_time", "clock_skew_seconds")
    expected = [("small", t, 1.0), ("large", dt.datetime(2026, 11, 10, 7, 54, 58), 302.0)]
    assertDataFrameEqual(out, expected)


def test_local_time_in_each_indonesian_time_zone(spark: SparkSession, params: dict[str, Any]) -> None:
    # 16:30 UTC on Tuesday 10 November: 23:30 in WIB, already Wednesday in WITA and WIT.
    zones = {"wib": "Asia/Jakarta", "wita": "Asia/Makassar", "wit": "Asia/Jayapura"}
    clicks = bronze(spark, "clickstream", [{"event_id": k, "timezone": tz} for k, tz in zones.items()])
    out = conform(clicks, no_search(spark), params).select(
        "event_id", "event_date", "timezone", "local_time", "local_date", "local_hour", "local_day_of_week"
    )
    expected = [
        ("wib", DAY, "Asia/Jakarta", dt.datetime(2026, 11, 10, 23, 30), DAY, 23, 2),
        ("wita", DAY, "Asia/Makassar", dt.datetime(2026, 11, 11, 0, 30), dt.date(2026, 11, 11), 0, 3),
        ("wit", DAY, "Asia/Jayapura", dt.datetime(2026, 11, 11, 1, 30), dt.date(2026, 11, 11), 1, 3),
    ]
    assertDataFrameEqual(out, expected)


def test_local_time_does_not_depend_on_the_session_time_zone(spark: SparkSession, params: dict[str, Any]) -> None:
    clicks = bronze(spark, "clickstream", [{"event_id": "e", "timezone": "Asia/Jayapura"}])
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        out = conform(clicks, no_search(spark), params).select(
            "event_date", F.date_format("local_time", "yyyy-MM-dd HH:mm").alias("local"), "late_days"
        )
        assert [tuple(r) for r in out.collect()] == [(DAY, "2026-11-11 01:30", 0)]
    finally:
        spark.conf.set("spark.sql.session.timeZone", str(before))


def test_urls_campaign_tags_category_and_lateness(spark: SparkSession, params: dict[str, Any]) -> None:
    clicks = bronze(
        spark,
        "clickstream",
        [
            {"event_id": "a", "page_url": "https://www.tokodetak.id/p/sepatu-123?utm_source=x&email=a@b.id#ulasan",
             "referrer": "https://WWW.Google.co.id/search?q=sepatu", "utm_source": " Google ", "utm_medium": "CPC",
             "utm_campaign": "Harbolnas_1212 ", "category": "Fashion Pria > Sepatu > Sneakers",
             # Buffered on the device and sent two days later: late by the collector's clock.
             "sent_at": dt.datetime(2026, 11, 12, 0, 5), "received_at": dt.datetime(2026, 11, 12, 0, 5),
             "_ingested_at": dt.datetime(2026, 11, 12, 0, 9)},
            {"event_id": "b", "page_url": "tokodetak://product/123", "referrer": None, "utm_source": "",
             "utm_medium": "  ", "category": "Elektronik", "_ingested_at": dt.datetime(2026, 11, 14, 17, 0)},
            # Device clock behind by a day, corrected: received on the (corrected) event date, 0 days late.
            {"event_id": "c", "page_url": "https://www.tokodetak.id/cart#top", "referrer": "not a url",
             "event_time": T0 - dt.timedelta(days=1), "sent_at": T0 - dt.timedelta(days=1),
             "received_at": T0, "_ingested_at": dt.datetime(2026, 11, 10, 16, 45)},
        ],
    )  # fmt: skip
    out = conform(clicks, no_search(spark), params).select(
        "event_id", "page_url", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "channel",
        "top_category", "late_days",
    )  # fmt: skip
    expected = [
        ("a", "https://www.tokodetak.id/p/sepatu-123", "www.google.co.id", "google", "cpc", "harbolnas_1212",
         "paid_search", "Fashion Pria", 2),
        ("b", "tokodetak://product/123", None, None, None, None, "direct", "Elektronik", 0),
        ("c", "https://www.tokodetak.id/cart", None, None, None, None, "direct", None, 0),
    ]  # fmt: skip
    assertDataFrameEqual(out, expected)


def test_device_fields_and_search_columns(spark: SparkSession, params: dict[str, Any]) -> None:
    searches = bronze(
        spark,
        "search",
        [{"event_id": "s", "search_id": "q1", "query": "sepatu", "filters": {"brand": "Aerostreet"},
          "sort": "price_asc", "results_count": 12, "page_number": 2, "position": None}],
    )  # fmt: skip
    out = conform(bronze(spark, "clickstream", []), searches, params).select(
        "event_id", "source", "device_type", "os", "browser", "search_id", "query", "filters", "results_count",
        "items", "cart_id",
    )  # fmt: skip
    expected = [
        ("s", "search", "desktop", "Windows", "Chrome", "q1", "sepatu", {"brand": "Aerostreet"}, 12, None, None)
    ]
    assertDataFrameEqual(out, expected)


def test_protect_pseudonymises_honours_consent_and_truncates_ips(spark: SparkSession, params: dict[str, Any]) -> None:
    key = b"test-key-not-secret"
    clicks = bronze(
        spark,
        "clickstream",
        [
            {"event_id": "yes", "anonymous_id": "dev-1", "user_id": "user-7", "ip": "36.72.201.9"},
            {"event_id": "no", "anonymous_id": "dev-2", "user_id": "user-8", "consent_analytics": False,
             "ip": "2001:db8:85a3:8d3:1319:8a2e:370:7348"},
            {"event_id": "anon", "anonymous_id": "dev-3", "user_id": None, "ip": "180.241.3.4"},
        ],
    )  # fmt: skip
    flagged = conform(clicks, no_search(spark), params).withColumns(
        {
            "is_bot": F.col("event_id") == "anon",
            "bot_reasons": F.when(F.col("event_id") == "anon", F.array(F.lit("headless"))).otherwise(
                F.array().cast("array<string>")
            ),
        }
    )
    out = protect(flagged, key, params)

    # Every column of the contract but session_id, which sessionization adds after protect().
    contract = [f for f in table("silver.events").spark_schema.fields if f.name != "session_id"]
    assert [(f.name, f.dataType) for f in out.schema.fields] == [(f.name, f.dataType) for f in contract]
    assert "ip" not in out.columns and "user_agent" not in out.columns

    def pseudonym(value: str) -> str:
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    got = out.select("event_id", "anonymous_id", "user_id", "consent_analytics", "ip_prefix", "is_bot", "bot_reasons")
    expected = [
        ("yes", pseudonym("dev-1"), pseudonym("user-7"), True, "36.72.201.0/24", False, []),
        ("no", pseudonym("dev-2"), None, False, "2001:db8:85a3::/48", False, []),
        ("anon", pseudonym("dev-3"), None, True, "180.241.3.0/24", True, ["headless"]),
    ]
    assertDataFrameEqual(got, expected)
    raw = {"dev-1", "dev-2", "dev-3", "user-7", "user-8", "36.72.201.9"}
    assert not raw & {str(v) for r in out.collect() for v in r}


# ---------------------------------------------------------------------------------------------
# End to end on the simulator's output


@pytest.mark.integration
def test_conform_on_simulated_events_matches_the_truth(spark: SparkSession, tmp_path: Path) -> None:
    from jobs.bronze.ingest import ingest_source
    from jobs.common.tables import read_table
    from jobs.simulate import generate

    conf: Settings = ci_settings(tmp_path)
    generate(tmp_path, dt.date(2026, 11, 10), 1, 60, 13, settings=conf, progress=False, workers=1)
    for source in ("clickstream", "search"):
        ingest_source(spark, source, conf, run_id=f"e2e-{source}")
    clicks = read_table(spark, "bronze.clickstream_events", conf)
    searches = read_table(spark, "bronze.search_events", conf)
    out = conform(clicks, searches, dict(conf["silver"]))

    truth = pq.read_table(
        tmp_path / "truth" / "events.parquet", columns=["event_id", "source", "event_time_utc"]
    ).to_pandas()
    truth = truth[truth["source"].isin(["clickstream", "search"])]
    expected = spark.createDataFrame(truth).select(
        "event_id",
        F.col("source").alias("true_source"),
        F.col("event_time_utc").cast("timestamp").alias("true_time"),
    )
    assert out.count() == len(truth) == truth["event_id"].nunique()
    # The simulator stamps event_time = t + skew, sent_at = t + send + skew (device clock) and
    # received_at = t + send + net (collector), with t the true time and net the network delay,
    # 25 ms <= net < 625 ms. So the corrected time is t + net: never early, under 625 ms late.
    delay = (F.unix_micros("event_time") - F.unix_micros("true_time")).alias("delay_us")
    device_off = F.abs(F.unix_micros("device_event_time") - F.unix_micros("true_time")) >= 625_000
    joined = out.join(expected, "event_id", "full_outer").select(
        "event_id", "source", "true_source", delay, device_off.alias("device_off")
    )
    stats = joined.agg(
        F.count(F.lit(1)).alias("n"),
        F.count_if(F.col("source").isNull() | F.col("true_source").isNull()).alias("unmatched"),
        F.count_if(F.col("source") != F.col("true_source")).alias("wrong_source"),
        F.count_if(F.col("delay_us").between(25_000, 624_999)).alias("within"),
        F.min("delay_us").alias("min_us"),
        F.max("delay_us").alias("max_us"),
        F.count_if("device_off").alias("device_time_off"),
    ).first()
    assert stats is not None
    assert (stats["unmatched"], stats["wrong_source"]) == (0, 0)
    # The relation is exact, so every event is within it (the bar was 99.9 %).
    assert stats["within"] == stats["n"], stats.asDict()
    # Devices whose clock is a minute to 90 minutes off are among them: their own time was wrong.
    assert stats["device_time_off"] > 0
    # Bronze rows = silver rows + duplicates dropped.
    dropped = duplicate_counts(clicks, searches, dict(conf["silver"])).agg(F.sum("duplicates")).first()
    assert dropped is not None
    bronze_rows = clicks.count() + searches.count()
    assert bronze_rows == stats["n"] + dropped[0] == out.agg(F.sum("copies")).first()[0]  # type: ignore[index]
    assert dropped[0] > 0
    print(f"corrected time vs truth: {stats.asDict()}")
