"""Threat actors and the JSON feed: rules by hand, the simulator's planted bots found with their kind,
the feed written atomically and equal to the table, and an empty day."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings, load_settings
from jobs.common.tables import read_table
from jobs.gold.threats import FEED_SCHEMA, TABLE, feed_rows, run_threats, transform
from jobs.silver.privacy import pseudonym_key
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

LAST_DAY = SIM_START + timedelta(days=SIM_DAYS - 1)
PARAMS = load_settings()["gold"]["threats"]
D = date(2026, 11, 10)


def test_devices_and_networks_by_hand(spark: SparkSession) -> None:
    a, b = "a" * 64, "b" * 64
    t = datetime(2026, 11, 10, 8)
    verdicts = spark.createDataFrame(
        [
            (D, "anonymous_id", a, ["card_testing", "inhuman_rate"], 40, t, t + timedelta(minutes=5)),
            (D, "anonymous_id", b, ["known_crawler"], 3, t, t + timedelta(minutes=1)),
            (D, "ip", "c" * 64, ["card_testing"], 40, t, t + timedelta(minutes=5)),
        ],
        "verdict_date date, actor_type string, actor string, reasons array<string>, events long, "
        "first_seen timestamp, last_seen timestamp",
    )
    ev = (
        "event_date date, anonymous_id string, ip_prefix string, is_bot boolean, bot_reasons array<string>, "
        "event_time timestamp"
    )
    events = spark.createDataFrame(
        [
            (D, a, "36.72.1.0/24", True, ["card_testing", "inhuman_rate"], t),
            (D, a, "36.72.1.0/24", True, ["card_testing", "inhuman_rate"], t + timedelta(minutes=5)),
            (D, "h" * 64, "36.72.1.0/24", False, [], t + timedelta(minutes=9)),  # a human behind the same NAT
            (D, b, "66.249.1.0/24", True, ["known_crawler"], t),
            (D, "h" * 64, None, False, [], t),  # no IP: no network
        ],
        ev,
    )
    got = transform(verdicts, events, PARAMS)
    card = 1 - (1 - 0.95) * (1 - 0.95)
    crawl = 0.99
    share = round(2 / 3, 6)  # two of the prefix's three events are the card tester's
    expected = spark.createDataFrame(
        [
            ("anonymous_id", a, "card_testing", ["card_testing", "scraper"], ["card_testing", "inhuman_rate"],
             ["36.72.1.0/24"], t, t + timedelta(minutes=5), 40, 40, 1.0, round(card, 6), D),
            ("anonymous_id", b, "crawler", ["crawler"], ["known_crawler"], ["66.249.1.0/24"], t,
             t + timedelta(minutes=1), 3, 3, 1.0, crawl, D),
            ("ip_prefix", "36.72.1.0/24", "card_testing", ["card_testing", "scraper"], ["card_testing", "inhuman_rate"],
             ["36.72.1.0/24"], t, t + timedelta(minutes=5), 3, 2, share, round(round(card, 6) * share, 6), D),
            ("ip_prefix", "66.249.1.0/24", "crawler", ["crawler"], ["known_crawler"], ["66.249.1.0/24"], t, t, 1, 1,
             1.0, crawl, D),
        ],
        "actor_type string, actor string, kind string, kinds array<string>, reasons array<string>, "
        "ip_prefixes array<string>, first_seen timestamp, last_seen timestamp, events long, bot_events long, "
        "bot_share double, confidence double, seen_date date",
    )  # fmt: skip
    assertDataFrameEqual(got.select(*expected.columns), expected, checkRowOrder=False, atol=1e-9)


def pseudonym(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def built(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    conf = sim_settings(copy_home(sim_home, tmp_path_factory.mktemp("threats")))
    report = run_threats(spark, LAST_DAY, conf, since=SIM_START)
    return conf, report


def test_planted_bots_are_found_with_their_kind(spark: SparkSession, built: tuple[Settings, dict]) -> None:
    conf, report = built
    assert report["dates"] == f"{SIM_START}..{LAST_DAY}"
    key = pseudonym_key(conf)
    truth = pq.read_table(Path(conf.path("lake")).parent / "truth" / "bot_actors.parquet").to_pylist()
    planted = {(r["day"], pseudonym(r["anonymous_id"], key), r["kind"]) for r in truth}
    devices = read_table(spark, TABLE, conf).where(F.col("actor_type") == "anonymous_id")
    found = {(r["seen_date"], r["actor"], r["kind"]) for r in devices.select("seen_date", "actor", "kind").collect()}
    assert found == planted
    assert report["rows"][TABLE] == read_table(spark, TABLE, conf).count()


def test_feed_is_the_table_of_the_last_days(spark: SparkSession, built: tuple[Settings, dict]) -> None:
    conf, report = built
    path = conf.path("threat_feed")
    feed = json.loads(path.read_text())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert feed["schema"] == FEED_SCHEMA
    assert feed["window"] == {"from": str(LAST_DAY - timedelta(days=1)), "to": str(LAST_DAY)}
    # Recomputed from the table with plain Python: actors of the last two days with confidence >= 0.5.
    rows = read_table(spark, TABLE, conf).where(F.col("seen_date") >= F.lit(LAST_DAY - timedelta(days=1))).collect()
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["confidence"] < PARAMS["feed_min_confidence"]:
            continue
        m = merged.setdefault((r["actor_type"], r["actor"]), {"events": 0, "reasons": set(), "confidence": 0.0})
        m["events"] += r["events"]
        m["reasons"] |= set(r["reasons"])
        m["confidence"] = max(m["confidence"], r["confidence"])
    got = {
        (a["actor_type"], a["actor"]): {
            "events": a["events"],
            "reasons": set(a["reasons"]),
            "confidence": a["confidence"],
        }
        for a in feed["actors"]
    }
    assert got == merged
    assert report["feed"]["actors"] == len(feed["actors"]) == len(merged)
    confidences = [a["confidence"] for a in feed["actors"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(a["last_seen"].endswith("Z") for a in feed["actors"])


def test_a_day_without_data_writes_an_empty_feed(spark: SparkSession, tmp_path: Path) -> None:
    conf = sim_settings(tmp_path)
    report = run_threats(spark, date(2026, 11, 10), conf)
    assert (report["dates"], report["noop"]) == ("none", True)
    assert report["feed"] == {"path": str(conf.path("threat_feed")), "actors": 0, "by_kind": {}}
    feed = json.loads(conf.path("threat_feed").read_text())
    assert feed["actors"] == []
    # Re-running changes nothing in the table.
    assert read_table(spark, TABLE, conf).count() == 0
    assert feed_rows(read_table(spark, TABLE, conf), date(2026, 11, 10), PARAMS).count() == 0
