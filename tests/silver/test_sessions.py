"""Sessionization rules and the sessions table on hand-made events; bots and sessions against the truth."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.ingest import ingest_source
from jobs.common.contracts import table
from jobs.common.tables import read_table
from jobs.silver.bots import detect_actors, flag_events
from jobs.silver.events import conform
from jobs.silver.sessions import sessionize, sessions
from jobs.simulate import generate
from tests.conftest import ci_settings

UTC = dt.UTC
WIB = dt.timedelta(hours=7)
T0 = dt.datetime(2026, 11, 11, 3, 0, 0, tzinfo=UTC)
PARAMS: dict[str, Any] = {"sessions": {"timeout_minutes": 30, "split_on_campaign_change": False}}
CAMPAIGN_SPLIT: dict[str, Any] = {"sessions": {"timeout_minutes": 30, "split_on_campaign_change": True}}

EVENT_SCHEMA = (
    "event_id string, event_type string, event_time timestamp, event_date date, local_time timestamp_ntz, "
    "anonymous_id string, user_id string, consent_analytics boolean, page_type string, page_url string, "
    "utm_campaign string, channel string, device_type string, os string, browser string, region string, "
    "timezone string"
)


def sid(anonymous_id: str, first_event_id: str) -> str:
    return hashlib.sha256(f"{anonymous_id}|{first_event_id}".encode()).hexdigest()


def event(
    event_id: str,
    at: dt.datetime,
    anon: str = "dev-a",
    event_type: str = "product_view",
    page_type: str = "product",
    campaign: str | None = None,
    user_id: str | None = None,
    consent: bool = True,
    channel: str = "direct",
) -> tuple[Any, ...]:
    local = (at + WIB).replace(tzinfo=None)
    url = f"https://shop.example/{page_type}/{event_id}"
    return (
        event_id,
        event_type,
        at,
        at.date(),
        local,
        anon,
        user_id,
        consent,
        page_type,
        url,
        campaign,
        channel,
        "mobile",
        "Android",
        "Chrome Mobile",
        "DKI Jakarta",
        "Asia/Jakarta",
    )


def frame(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, EVENT_SCHEMA)


def ids(df: DataFrame) -> DataFrame:
    return df.select("event_id", "session_id")


def at(minutes: float = 0, seconds: float = 0, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes, seconds=seconds)


def test_a_gap_of_29_59_continues_and_30_01_starts_a_new_session(spark: SparkSession) -> None:
    rows = [
        event("e1", at(0)),
        event("e2", at(29, 59)),  # 29:59 after e1
        event("e3", at(59, 59)),  # exactly 30:00 after e2: still the same session
        event("e4", at(90, 0.001)),  # 30:00.001 after e3
        event("e5", at(120, 2)),  # 30:01 after e4
        event("b1", at(5), anon="dev-b"),  # another device is its own session
    ]
    expected = [
        ("e1", sid("dev-a", "e1")),
        ("e2", sid("dev-a", "e1")),
        ("e3", sid("dev-a", "e1")),
        ("e4", sid("dev-a", "e4")),
        ("e5", sid("dev-a", "e5")),
        ("b1", sid("dev-b", "b1")),
    ]
    assertDataFrameEqual(
        ids(sessionize(frame(spark, rows), PARAMS)),
        spark.createDataFrame(expected, "event_id string, session_id string"),
    )


def test_timeout_comes_from_params(spark: SparkSession) -> None:
    rows = [event("e1", at(0)), event("e2", at(10, 1))]
    short = {"sessions": {"timeout_minutes": 10, "split_on_campaign_change": False}}
    expected = [("e1", sid("dev-a", "e1")), ("e2", sid("dev-a", "e2"))]
    assertDataFrameEqual(
        ids(sessionize(frame(spark, rows), short)),
        spark.createDataFrame(expected, "event_id string, session_id string"),
    )


def test_a_session_across_midnight_stays_one(spark: SparkSession) -> None:
    night = dt.datetime(2026, 11, 11, 23, 50, tzinfo=UTC)
    rows = [event("n1", night), event("n2", at(15, base=night)), event("n3", at(40, base=night))]
    out = sessionize(frame(spark, rows), PARAMS)
    expected = [(e, sid("dev-a", "n1")) for e in ("n1", "n2", "n3")]
    assertDataFrameEqual(ids(out), spark.createDataFrame(expected, "event_id string, session_id string"))
    row = sessions(out, None).select("session_date", "session_start", "session_end", "events").collect()
    assert [tuple(r) for r in row] == [
        (dt.date(2026, 11, 11), night.replace(tzinfo=None), at(40, base=night).replace(tzinfo=None), 3)
    ]


CAMPAIGN_ROWS = [
    event("c1", at(0), campaign="sale11"),
    event("c2", at(1)),
    event("c3", at(2), campaign="sale11"),  # the same campaign again: no split
    event("c4", at(3), campaign="payday"),  # a new campaign: split
    event("c5", at(4)),
    event("d1", at(0), anon="dev-d"),
    event("d2", at(1), anon="dev-d", campaign="sale11"),  # a campaign arriving in a direct visit: split
]


def test_campaign_split_off(spark: SparkSession) -> None:
    expected = [(e, sid("dev-a", "c1")) for e in ("c1", "c2", "c3", "c4", "c5")] + [
        ("d1", sid("dev-d", "d1")),
        ("d2", sid("dev-d", "d1")),
    ]
    assertDataFrameEqual(
        ids(sessionize(frame(spark, CAMPAIGN_ROWS), PARAMS)),
        spark.createDataFrame(expected, "event_id string, session_id string"),
    )


def test_campaign_split_on(spark: SparkSession) -> None:
    expected = [
        ("c1", sid("dev-a", "c1")),
        ("c2", sid("dev-a", "c1")),
        ("c3", sid("dev-a", "c1")),
        ("c4", sid("dev-a", "c4")),
        ("c5", sid("dev-a", "c4")),
        ("d1", sid("dev-d", "d1")),
        ("d2", sid("dev-d", "d2")),
    ]
    assertDataFrameEqual(
        ids(sessionize(frame(spark, CAMPAIGN_ROWS), CAMPAIGN_SPLIT)),
        spark.createDataFrame(expected, "event_id string, session_id string"),
    )


def test_session_ids_are_deterministic(spark: SparkSession) -> None:
    rows = [event(f"e{i:02d}", at(7 * i * i)) for i in range(8)] + [event("x1", at(3), anon="dev-x")]
    first = ids(sessionize(frame(spark, rows), PARAMS))
    shuffled = frame(spark, list(reversed(rows))).repartition(3)
    again = ids(sessionize(shuffled, PARAMS))
    assertDataFrameEqual(first, again)
    # Ties on event_time are broken by event_id, so the first event is well defined.
    tie = [event("t2", at(0)), event("t1", at(0))]
    assert {r.session_id for r in sessionize(frame(spark, tie), PARAMS).collect()} == {sid("dev-a", "t1")}


SESSIONS_SCHEMA = table("silver.sessions").spark_schema


def test_sessions_table(spark: SparkSession) -> None:
    rows = [
        # A logged-in visit from a campaign, crossing midnight in Jakarta (17:00 UTC).
        event(
            "a1",
            at(0, base=T0.replace(hour=16, minute=50)),
            event_type="page_view",
            page_type="home",
            campaign="sale11",
            channel="paid_social",
        ),
        event("a2", at(2, base=T0.replace(hour=16, minute=50)), user_id="U1"),
        event("a3", at(3, base=T0.replace(hour=16, minute=50)), event_type="add_to_cart", user_id="U1"),
        event(
            "a4",
            at(3, 30, base=T0.replace(hour=16, minute=50)),
            event_type="page_ping",
            page_type="product",
            user_id="U1",
        ),
        event("a5", at(12, base=T0.replace(hour=16, minute=50)), event_type="search", page_type="search", user_id="U1"),
        event(
            "a6", at(13, base=T0.replace(hour=16, minute=50)), event_type="page_ping", page_type="search", user_id="U1"
        ),
        # The same device later, not logged in: the identity map knows its account.
        event("b1", at(0, base=T0.replace(hour=20)), anon="dev-a", event_type="cart_view", page_type="cart"),
        # A device without consent: no user_id, even though the identity map knows one.
        event("c1", at(0), anon="dev-c", consent=False),
        event("c2", at(1), anon="dev-c", event_type="product_list_view", page_type="category", consent=False),
        # A device nobody knows.
        event("d1", at(0), anon="dev-d", event_type="page_view", page_type="home"),
    ]
    identity = spark.createDataFrame([("dev-a", "U1"), ("dev-c", "U3")], "anonymous_id string, user_id string")
    a0 = T0.replace(hour=16, minute=50)
    local = lambda t: (t + WIB).replace(tzinfo=None)  # noqa: E731
    url = "https://shop.example/{}/{}".format
    common = ("mobile", "Android", "Chrome Mobile", "DKI Jakarta", "Asia/Jakarta")
    expected = [
        (
            sid("dev-a", "a1"),
            "dev-a",
            "U1",
            a0,
            at(13, base=a0),
            780,
            a0.date(),
            local(a0),
            6,
            3,
            1,
            1,
            1,
            "home",
            url("home", "a1"),
            "search",
            "paid_social",
            "sale11",
            *common,
            True,
        ),
        (
            sid("dev-a", "b1"),
            "dev-a",
            "U1",
            at(0, base=T0.replace(hour=20)),
            at(0, base=T0.replace(hour=20)),
            0,
            T0.date(),
            local(T0.replace(hour=20)),
            1,
            1,
            0,
            0,
            0,
            "cart",
            url("cart", "b1"),
            "cart",
            "direct",
            None,
            *common,
            True,
        ),
        (
            sid("dev-c", "c1"),
            "dev-c",
            None,
            T0,
            at(1),
            60,
            T0.date(),
            local(T0),
            2,
            2,
            1,
            0,
            0,
            "product",
            url("product", "c1"),
            "category",
            "direct",
            None,
            *common,
            False,
        ),
        (
            sid("dev-d", "d1"),
            "dev-d",
            None,
            T0,
            T0,
            0,
            T0.date(),
            local(T0),
            1,
            1,
            0,
            0,
            0,
            "home",
            url("home", "d1"),
            "home",
            "direct",
            None,
            *common,
            True,
        ),
    ]
    out = sessions(sessionize(frame(spark, rows), PARAMS), identity)
    assertDataFrameEqual(out, spark.createDataFrame(expected, SESSIONS_SCHEMA))
    without_map = sessions(sessionize(frame(spark, rows), PARAMS), None)
    assert {r.session_id: r.user_id for r in without_map.collect()} == {
        sid("dev-a", "a1"): "U1",
        sid("dev-a", "b1"): None,
        sid("dev-c", "c1"): None,
        sid("dev-d", "d1"): None,
    }


@pytest.mark.parametrize("split", [False, True])
def test_daily_runs_with_a_context_day_equal_a_full_rebuild(spark: SparkSession, split: bool) -> None:
    """What the daily job does: sessionize window + one context day, keep the window's session dates."""
    params = {"sessions": {"timeout_minutes": 30, "split_on_campaign_change": split}}
    day = dt.datetime(2026, 11, 10, tzinfo=UTC)
    rows = [
        # Starts on the 10th at 23:40, runs into the 11th; the 11th's run must not write its tail.
        *[event(f"m{i}", at(10 * i, base=day.replace(hour=23, minute=40)), anon="dev-m") for i in range(6)],
        event("p1", at(0, base=day.replace(hour=9)), anon="dev-p"),
        event("q1", at(0, base=day.replace(day=11, hour=9)), anon="dev-q", campaign="sale11"),
        event("q2", at(5, base=day.replace(day=11, hour=9)), anon="dev-q", campaign="payday"),
        event("r1", at(0, base=day.replace(day=12, hour=1)), anon="dev-r"),
    ]
    events = frame(spark, rows)
    full = sessions(sessionize(events, params), None)

    def run(first: dt.date, last: dt.date) -> DataFrame:
        context = first - dt.timedelta(days=1)
        scope = events.where(F.col("event_date").between(F.lit(context), F.lit(last)))
        return sessions(sessionize(scope, params), None).where(F.col("session_date").between(F.lit(first), F.lit(last)))

    # Daily runs with a one-day lookback; each run replaces the session dates of its window.
    table_by_date: dict[dt.date, DataFrame] = {}
    for run_date in (dt.date(2026, 11, 10), dt.date(2026, 11, 11), dt.date(2026, 11, 12)):
        first = run_date - dt.timedelta(days=1)
        written = run(first, run_date)
        for d in (first, run_date):
            table_by_date[d] = written.where(F.col("session_date") == F.lit(d))
    daily = reduce(DataFrame.unionByName, table_by_date.values())
    assertDataFrameEqual(daily, full)
    assert full.where(F.col("anonymous_id") == "dev-m").count() == 1


# ---------------------------------------------------------------------------------------------
# Scoring against the simulator's truth (bot verdicts and human sessions on a generated run)
#
# Bots are counted by anonymous_id: a device counts as flagged when any of its events is flagged
# (``is_bot``, by its own verdict or its IP's); the truth's bot devices are the anonymous_ids of
# ``truth/bot_actors.parquet`` (a credential stuffer's several devices count one by one).
#
# A true session of a human visitor *matches* when exactly its event_ids form one detak session.
# Its event_ids are those that reached silver: a line the collector garbled is quarantined in bronze
# and can be in no session. Measured numbers are printed (run with ``-s``); the floors sit just below.

TRUTH_START = dt.date(2026, 11, 10)
TRUTH_DAYS, TRUTH_USERS, TRUTH_SEED = 2, 150, 7


@pytest.fixture(scope="module")
def truth_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("bots-sessions")
    settings = ci_settings(home)
    generate(home, TRUTH_START, TRUTH_DAYS, TRUTH_USERS, TRUTH_SEED, settings=settings, progress=False, workers=1)
    for source in ("clickstream", "search"):
        ingest_source(spark, source, settings, run_id="truth-test")
    click = read_table(spark, "bronze.clickstream_events", settings)
    search = read_table(spark, "bronze.search_events", settings)
    params = settings["silver"]
    # conform carries the typed login e-mail for bot detection; protect() drops it before silver.
    events = conform(click, search, params).cache()
    verdicts = detect_actors(events, params).cache()
    flagged = flag_events(events, verdicts).cache()
    sessionized = sessionize(flagged.where(~F.col("is_bot")), params).cache()
    truth = home / "truth"
    yield {
        "events": events,
        "verdicts": verdicts,
        "flagged": flagged,
        "sessionized": sessionized,
        "truth": truth,
        "params": params,
    }
    for df in (sessionized, flagged, verdicts, events):
        df.unpersist()


def _truth(spark: SparkSession, truth: Path, name: str) -> DataFrame:
    return spark.read.parquet(str(truth / f"{name}.parquet"))


def _score(flagged_devices: set[str], bots: dict[str, str]) -> dict[str, Any]:
    hits = flagged_devices & bots.keys()
    by_kind: dict[str, tuple[int, int]] = {}
    for device, kind in bots.items():
        found, total = by_kind.get(kind, (0, 0))
        by_kind[kind] = (found + (device in flagged_devices), total + 1)
    return {
        "precision": len(hits) / max(1, len(flagged_devices)),
        "recall": len(hits) / max(1, len(bots)),
        "recall_by_kind": {k: f / t for k, (f, t) in sorted(by_kind.items())},
        "false_positives": sorted(flagged_devices - bots.keys()),
        "missed": sorted(bots.keys() - flagged_devices),
    }


@pytest.mark.integration
def test_bot_devices_match_the_truth(spark: SparkSession, truth_run: dict[str, Any]) -> None:
    bots = {r.anonymous_id: r.kind for r in _truth(spark, truth_run["truth"], "bot_actors").collect()}
    flagged = {r.anonymous_id for r in truth_run["flagged"].where("is_bot").select("anonymous_id").distinct().collect()}
    score = _score(flagged, bots)
    by_reason = {
        r.reason: r.devices
        for r in truth_run["verdicts"]
        .where(F.col("actor_type") == "anonymous_id")
        .select("actor", F.explode("reasons").alias("reason"))
        .groupBy("reason")
        .agg(F.collect_set("actor").alias("devices"))
        .collect()
    }
    precision_by_reason = {k: len(set(v) & bots.keys()) / len(v) for k, v in sorted(by_reason.items())}
    print(f"\nbots: {len(bots)} devices; flagged {len(flagged)}; {score}; precision by reason {precision_by_reason}")
    assert score["precision"] >= 0.95
    assert score["recall"] >= 0.95
    assert min(score["recall_by_kind"].values()) >= 0.9
    # Without the login e-mails the account count of credential_stuffing is not applied.
    events = truth_run["events"].drop("email")
    blind = flag_events(events, detect_actors(events, truth_run["params"]))
    blind_flagged = {r.anonymous_id for r in blind.where("is_bot").select("anonymous_id").distinct().collect()}
    blind_score = _score(blind_flagged, bots)
    print(f"bots without e-mails: {blind_score}")
    assert blind_score["precision"] >= 0.95
    assert blind_score["recall"] >= 0.95
    # Credential stuffers and card testers are also caught by IP.
    ip_reasons = {
        reason
        for r in truth_run["verdicts"].where(F.col("actor_type") == "ip").select("reasons").collect()
        for reason in r.reasons
    }
    assert ip_reasons == {"card_testing", "credential_stuffing"}


@pytest.mark.integration
def test_human_sessions_match_the_truth(spark: SparkSession, truth_run: dict[str, Any]) -> None:
    true_sessions = _truth(spark, truth_run["truth"], "sessions").select("true_session_id", "edge_case")
    seen = truth_run["events"].select("event_id")
    true_events = (
        _truth(spark, truth_run["truth"], "events")
        .where(F.col("true_session_id").isNotNull() & ~F.col("is_bot"))
        .join(seen, "event_id", "inner")
        .select("event_id", "true_session_id")
    )
    detak = truth_run["sessionized"].select("event_id", "session_id")
    detak_size = detak.groupBy("session_id").agg(F.count(F.lit(1)).alias("detak_events"))
    per_true = (
        true_events.join(detak, "event_id", "left")
        .groupBy("true_session_id")
        .agg(
            F.count(F.lit(1)).alias("true_events"),
            F.count_distinct("session_id").alias("n_detak"),
            F.count("session_id").alias("in_detak"),
            F.first("session_id", ignorenulls=True).alias("session_id"),
        )
        .join(detak_size, "session_id", "left")
        .join(true_sessions, "true_session_id", "inner")
        .withColumn(
            "match",
            (F.col("n_detak") == 1)
            & (F.col("in_detak") == F.col("true_events"))
            & (F.col("detak_events") == F.col("true_events")),
        )
    )
    # A visit planted less than the timeout after the device's previous one is, by the rule, the same
    # session as that one: neither can match. They are the only sessions left out of the second rate.
    device = Window.partitionBy("anonymous_id").orderBy("start_utc")
    merged_by_rule = (
        _truth(spark, truth_run["truth"], "sessions")
        .select(
            "true_session_id",
            ((F.col("edge_case") == "short_gap") | (F.lead("edge_case").over(device) == "short_gap")).alias("short"),
        )
        .where("short")
    )
    scored = per_true.join(merged_by_rule, "true_session_id", "left")
    totals = scored.agg(
        F.count(F.lit(1)).alias("sessions"),
        F.sum(F.col("match").cast("int")).alias("matched"),
        F.count(F.when(F.col("short").isNull(), 1)).alias("regular"),
        F.count(F.when(F.col("short").isNull() & F.col("match"), 1)).alias("regular_matched"),
        F.count(F.when((F.col("edge_case") == "cross_midnight") & ~F.col("match"), 1)).alias("midnight_missed"),
    ).first()
    assert totals is not None
    rate = totals.matched / totals.sessions
    regular_rate = totals.regular_matched / totals.regular
    print(
        f"\nsessions: {totals.matched}/{totals.sessions} = {rate:.4f} match; without planted short gaps and "
        f"their predecessors {totals.regular_matched}/{totals.regular} = {regular_rate:.4f}"
    )
    assert rate >= 0.98
    assert regular_rate >= 0.995
    assert totals.midnight_missed == 0
