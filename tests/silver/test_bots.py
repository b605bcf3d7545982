"""Bot and threat verdicts on hand-made events: each reason, humans left alone, the event flag."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import table
from jobs.silver.bots import detect_actors, flag_events

UTC = dt.UTC
DAY = dt.date(2026, 11, 11)
T0 = dt.datetime(2026, 11, 11, 3, 0, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PLAYWRIGHT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Playwright/1.40"
)

PARAMS: dict[str, Any] = {
    "bots": {
        "headless_markers": ["HeadlessChrome", "PhantomJS", "Puppeteer", "Playwright", "Selenium", "webdriver"],
        "rate": {"max_events_per_minute": 60, "min_events": 30, "max_gap_cv": 0.15},
        "card_testing": {"window_minutes": 30, "min_failed_payments": 10},
        "credential_stuffing": {"window_minutes": 30, "min_failed_logins": 10, "min_distinct_accounts": 5},
    }
}

EVENT_SCHEMA = (
    "event_id string, event_type string, event_time timestamp, device_event_time timestamp, event_date date, "
    "anonymous_id string, ip string, user_agent string, device_type string, login_result string, email string"
)
VERDICT_SCHEMA = table("silver.actor_verdicts").spark_schema


class Events:
    """Builds event rows; the device clock runs 5 minutes ahead of the corrected time."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(
        self,
        anon: str,
        at: dt.datetime,
        event_type: str = "product_view",
        ip: str = "36.72.1.10",
        ua: str | None = CHROME,
        device_type: str = "desktop",
        login_result: str | None = None,
        email: str | None = None,
    ) -> None:
        event_id = f"{anon}-{len(self.rows):04d}"
        device = at + dt.timedelta(minutes=5)
        self.rows.append((event_id, event_type, at, device, at.date(), anon, ip, ua, device_type, login_result, email))

    def frame(self, spark: SparkSession) -> DataFrame:
        return spark.createDataFrame(self.rows, EVENT_SCHEMA)


def sec(seconds: float, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(seconds=seconds)


def verdict(
    actor_type: str,
    actor: str,
    reasons: list[str],
    events: int,
    first: dt.datetime,
    last: dt.datetime,
    evidence: dict[str, float] | None = None,
    day: dt.date = DAY,
) -> tuple[Any, ...]:
    return (day, actor_type, actor, reasons, events, first, last, {k: float(v) for k, v in (evidence or {}).items()})


def humans(ev: Events) -> None:
    """Ordinary visitors, some with failed payments and logins and a long, regularly pinged page."""
    for i, gap in enumerate([0, 14, 95, 31, 260, 7, 48]):
        ev.add("human-a", sec(600 + 60 * i + gap), "page_view" if i == 0 else "product_view", ip="36.72.1.20")
    # A shopper whose card fails a few times and who mistypes a password twice.
    for i in range(3):
        ev.add("human-b", sec(1200 + 90 * i), "payment_failed", ip="36.72.1.21")
    for i in range(2):
        ev.add("human-b", sec(1500 + 20 * i), "login", ip="36.72.1.21", login_result="failure", email="b@mail.id")
    ev.add("human-b", sec(1560), "login", ip="36.72.1.21", login_result="success", email="b@mail.id")
    # 45 page_pings exactly 10 s apart while reading one page: a timer, not a machine.
    ev.add("human-c", sec(3000), "product_view", ip="36.72.1.22")
    for i in range(45):
        ev.add("human-c", sec(3010 + 10 * i), "page_ping", ip="36.72.1.22")
    # Someone who forgot their password and tries 12 times: one account, so not stuffing.
    for i in range(12):
        ev.add("human-d", sec(5000 + 30 * i), "login", ip="36.72.1.23", login_result="failure", email="d@mail.id")


@pytest.fixture(scope="module")
def scenario(spark: SparkSession) -> DataFrame:
    ev = Events()
    humans(ev)
    # Scraper: 70 events in 54.6 s at irregular gaps (0.2 s, 1.4 s, ...): inhuman rate only.
    t_ms = 0
    for i in range(70):
        ev.add("scraper", sec(7200 + t_ms / 1000), ip="103.10.0.5")
        t_ms += 200 if i % 2 == 0 else 1400
    # Metronome: 40 events exactly 2 s apart (at most 30 in any minute): regular timing only.
    for i in range(40):
        ev.add("metronome", sec(9000 + 2 * i), ip="103.10.0.6")
    # Card tester: 12 failed payments in 10 minutes (every 50 s) from one IP, shared by a human.
    for i in range(12):
        ev.add("carder", sec(10_000 + 50 * i) if i % 2 else sec(10_000 + 50 * i + 3), "payment_failed", ip="45.9.9.9")
    ev.add("human-e", sec(20_000), "page_view", ip="45.9.9.9")
    # Credential stuffer: 15 failed logins from one IP, 6 accounts, 3 rotating anonymous_ids.
    for i in range(15):
        ev.add(
            f"stuffer-{i % 3}",
            sec(12_000 + 20 * i),
            "login",
            ip="185.1.1.1",
            login_result="failure",
            email=f"victim{i % 6}@mail.id",
        )
    # Crawlers: one on the maintained list, one only ua-parser knows; a headless browser.
    for i in range(3):
        ev.add("googlebot", sec(14_000 + 5 * i), ua=GOOGLEBOT, device_type="bot", ip="66.249.66.1")
    ev.add("spider", sec(14_100), ua=CHROME, device_type="bot", ip="66.249.66.2")
    for i in range(2):
        ev.add("playwright", sec(15_000 + 4 * i), ua=PLAYWRIGHT, ip="34.1.1.1")
    return ev.frame(spark)


def test_each_reason_and_humans_left_alone(spark: SparkSession, scenario: DataFrame) -> None:
    expected = [
        verdict("anonymous_id", "scraper", ["inhuman_rate"], 70, sec(7200), sec(7254.6), {"max_events_per_minute": 70}),
        verdict(
            "anonymous_id",
            "metronome",
            ["regular_timing"],
            40,
            sec(9000),
            sec(9078),
            {"gap_cv": 0.0, "mean_gap_seconds": 2.0, "timed_events": 40},
        ),
        verdict("anonymous_id", "carder", ["card_testing"], 12, sec(10_003), sec(10_550), {"failed_payments": 12}),
        verdict("ip", "45.9.9.9", ["card_testing"], 13, sec(10_003), sec(20_000), {"failed_payments": 12}),
        *[
            verdict(
                "anonymous_id",
                f"stuffer-{k}",
                ["credential_stuffing"],
                5,
                sec(12_000 + 20 * k),
                sec(12_000 + 20 * (12 + k)),
                {"failed_logins": 15, "distinct_accounts": 6, "distinct_anonymous_ids": 3},
            )
            for k in range(3)
        ],
        verdict(
            "ip",
            "185.1.1.1",
            ["credential_stuffing"],
            15,
            sec(12_000),
            sec(12_280),
            {"failed_logins": 15, "distinct_accounts": 6, "distinct_anonymous_ids": 3},
        ),
        verdict("anonymous_id", "googlebot", ["known_crawler"], 3, sec(14_000), sec(14_010)),
        verdict("anonymous_id", "spider", ["known_crawler"], 1, sec(14_100), sec(14_100)),
        verdict("anonymous_id", "playwright", ["headless"], 2, sec(15_000), sec(15_004)),
    ]
    assertDataFrameEqual(detect_actors(scenario, PARAMS), spark.createDataFrame(expected, VERDICT_SCHEMA))


def test_headless_chrome_is_also_a_listed_crawler(spark: SparkSession) -> None:
    ev = Events()
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36"
    ev.add("headless", sec(0), ua=ua)
    expected = [verdict("anonymous_id", "headless", ["headless", "known_crawler"], 1, sec(0), sec(0))]
    assertDataFrameEqual(detect_actors(ev.frame(spark), PARAMS), spark.createDataFrame(expected, VERDICT_SCHEMA))


def test_thresholds_are_inclusive_and_read_from_params(spark: SparkSession) -> None:
    ev = Events()
    for i in range(10):  # exactly min_failed_payments within 29:59
        ev.add("ten", sec(i * 199.9), "payment_failed", ip="10.0.0.1")
    for i in range(10):  # ten failures, but the tenth falls 30:00 after the first
        ev.add("spread", sec(3600 + i * 200), "payment_failed", ip="10.0.0.2")
    events = ev.frame(spark)
    expected = [
        verdict("anonymous_id", "ten", ["card_testing"], 10, sec(0), sec(1799.1), {"failed_payments": 10}),
        verdict("ip", "10.0.0.1", ["card_testing"], 10, sec(0), sec(1799.1), {"failed_payments": 10}),
    ]
    assertDataFrameEqual(detect_actors(events, PARAMS), spark.createDataFrame(expected, VERDICT_SCHEMA))
    stricter = {"bots": {**PARAMS["bots"], "card_testing": {"window_minutes": 30, "min_failed_payments": 11}}}
    assert detect_actors(events, stricter).count() == 0


def test_a_burst_across_midnight_gives_a_verdict_on_both_days(spark: SparkSession) -> None:
    ev = Events()
    night = dt.datetime(2026, 11, 11, 23, 59, 30, tzinfo=UTC)
    for i in range(80):  # 0.5 s apart: 60 before midnight, 20 after
        ev.add("night-owl", sec(0.5 * i + (i % 3) * 0.1, night), ip="10.0.0.9")
    next_day = dt.date(2026, 11, 12)
    midnight = dt.datetime(2026, 11, 12, tzinfo=UTC)
    expected = [
        verdict(
            "anonymous_id", "night-owl", ["inhuman_rate"], 60, night, sec(29.7, night), {"max_events_per_minute": 80}
        ),
        verdict(
            "anonymous_id",
            "night-owl",
            ["inhuman_rate"],
            20,
            midnight,
            sec(39.6, night),
            {"max_events_per_minute": 80},
            day=next_day,
        ),
    ]
    assertDataFrameEqual(detect_actors(ev.frame(spark), PARAMS), spark.createDataFrame(expected, VERDICT_SCHEMA))


def test_without_emails_stuffing_counts_failures_only(spark: SparkSession, caplog: pytest.LogCaptureFixture) -> None:
    ev = Events()
    for i in range(10):
        ev.add("one-device", sec(20 * i), "login", ip="185.1.1.2", login_result="failure")
    events = ev.frame(spark).drop("email")
    expected = [
        verdict(
            kind,
            actor,
            ["credential_stuffing"],
            10,
            sec(0),
            sec(180),
            {"failed_logins": 10, "distinct_anonymous_ids": 1},
        )
        for kind, actor in [("ip", "185.1.1.2"), ("anonymous_id", "one-device")]
    ]
    with caplog.at_level(logging.WARNING, logger="jobs.silver.bots"):
        actual = detect_actors(events, PARAMS)
    assert "min_distinct_accounts is not applied" in caplog.text
    assertDataFrameEqual(actual, spark.createDataFrame(expected, VERDICT_SCHEMA))


def test_flag_events(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [
            ("e1", DAY, "carder", "45.9.9.9"),
            ("e2", DAY, "bystander", "45.9.9.9"),  # a human behind the card tester's IP
            ("e3", DAY, "bystander", "36.72.1.1"),
            ("e4", DAY + dt.timedelta(days=1), "carder", "45.9.9.9"),  # verdicts are per day
            ("e5", DAY, "human", None),
            ("e6", DAY, "crawler", "66.249.66.1"),
        ],
        "event_id string, event_date date, anonymous_id string, ip string",
    )
    verdicts = spark.createDataFrame(
        [
            verdict("anonymous_id", "carder", ["card_testing", "inhuman_rate"], 12, T0, T0),
            verdict("ip", "45.9.9.9", ["card_testing", "credential_stuffing"], 13, T0, T0),
            verdict("anonymous_id", "crawler", ["known_crawler"], 3, T0, T0),
        ],
        VERDICT_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            ("e1", DAY, "carder", "45.9.9.9", True, ["card_testing", "credential_stuffing", "inhuman_rate"]),
            ("e2", DAY, "bystander", "45.9.9.9", True, ["card_testing", "credential_stuffing"]),
            ("e3", DAY, "bystander", "36.72.1.1", False, []),
            ("e4", DAY + dt.timedelta(days=1), "carder", "45.9.9.9", False, []),
            ("e5", DAY, "human", None, False, []),
            ("e6", DAY, "crawler", "66.249.66.1", True, ["known_crawler"]),
        ],
        "event_id string, event_date date, anonymous_id string, ip string, is_bot boolean, bot_reasons array<string>",
    )
    assertDataFrameEqual(flag_events(events, verdicts), expected)
