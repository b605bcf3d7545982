"""Bots and threats: per-day verdicts on actors (devices and IPs) and the bot flag on events.

``detect_actors`` judges every actor of the input each UTC day by six rules, all thresholds from
``silver.bots`` in the configuration:

``known_crawler``
    The user agent is on the maintained crawler list of the ``crawlerdetect`` package (a Python
    port that ships the patterns of JayBizzle/Crawler-Detect, the list most PHP and JS stacks use),
    or ua-parser called the device a spider (``device_type == "bot"``). The list is evaluated once
    per distinct user agent, never per event. Actor: the anonymous_id.
``headless``
    The user agent contains one of ``headless_markers`` (case-insensitive). Actor: the anonymous_id.
``inhuman_rate``
    Some one-minute interval holds at least ``rate.max_events_per_minute`` events of one
    anonymous_id. Actor: the anonymous_id.
``regular_timing``
    On one day an anonymous_id has at least ``rate.min_events`` events whose gaps have a
    coefficient of variation (population standard deviation / mean) below ``rate.max_gap_cv``.
    Gaps are measured on the device's own clock (``device_event_time`` when the input has it): its
    skew is constant for a device, so its differences are exact, whereas the corrected event_time
    carries the collector's network jitter of hundreds of milliseconds, enough to hide a machine
    that fires every 300 ms. Actor: the anonymous_id.
``card_testing``
    At least ``card_testing.min_failed_payments`` payment_failed events of one anonymous_id within
    ``card_testing.window_minutes``. Actors: the anonymous_id and every IP those failures came from.
``credential_stuffing``
    At least ``credential_stuffing.min_failed_logins`` failed logins from one IP within
    ``credential_stuffing.window_minutes``, for at least ``min_distinct_accounts`` different
    accounts (stuffers rotate cookies, so the IP is the actor). Actors: the IP and every
    anonymous_id whose failed logins are part of such a burst.

page_ping events are left out of the rate and timing rules: the tracker sends them on a timer while
a page is open in a human's browser, so they are regular by design and say nothing about who is
clicking. They still count in ``events`` of a verdict.

A burst that crosses midnight gives a verdict on both days. Windows only see the events of the
input, so the daily job's lookback (``silver.lookback_days``) also gives bursts near the start of
the processed range their earlier events.

Everything is Spark expressions, window functions and aggregations except the crawler list, which is
a vectorised Python UDF over the distinct user agents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cache, reduce
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.tables import conform

log = logging.getLogger(__name__)

TABLE = "silver.actor_verdicts"
ANONYMOUS_ID = "anonymous_id"
IP = "ip"
REASONS = ("known_crawler", "headless", "inhuman_rate", "regular_timing", "card_testing", "credential_stuffing")
# Sent by the tracker on a timer, not by the visitor: left out of the rate and timing rules.
HEARTBEAT_EVENTS = ("page_ping",)
# Raw e-mail typed at login (only ever in memory inside the silver job); falls back to user_id.
ACCOUNT_COLUMNS = ("email", "user_id")

_KEYS = ["verdict_date", "actor_type", "actor"]
_EVIDENCE_TYPE = "map<string,double>"


@cache
def _crawler_detector() -> Any:
    # One detector per Python worker; it keeps an LRU cache of the user agents it has seen.
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


@F.pandas_udf(T.BooleanType())  # type: ignore[call-overload]
def is_listed_crawler(user_agents: pd.Series) -> pd.Series:
    """Whether each user agent is on the crawlerdetect (JayBizzle/Crawler-Detect) list."""
    detector = _crawler_detector()
    return user_agents.map(lambda ua: bool(ua) and bool(detector.is_crawler(user_agent=ua))).astype(bool)


def _millis(col: str) -> Column:
    return F.unix_millis(F.col(col))


def _evidence(**values: Column) -> Column:
    parts: list[Column] = []
    for key, value in values.items():
        parts += [F.lit(key), value.cast("double")]
    return F.create_map(*parts)


def _no_evidence() -> Column:
    return F.lit(None).cast(_EVIDENCE_TYPE)


def _burst_dates(start_date: str, window: Any) -> Column:
    """The dates of a burst: the date of its first event and of the last event in its window."""
    return F.array_distinct(F.array(F.col(start_date), F.max(start_date).over(window)))


def _hits(df: DataFrame, actor_type: str, actor: str, reason: str, evidence: Column) -> DataFrame:
    return df.select(
        F.col("verdict_date"),
        F.lit(actor_type).alias("actor_type"),
        F.col(actor).alias("actor"),
        F.lit(reason).alias("reason"),
        evidence.alias("evidence"),
    )


def _user_agent_hits(events: DataFrame, markers: Iterable[str]) -> DataFrame:
    """known_crawler and headless, judged on distinct user agents and joined back to the devices."""
    seen = (
        events.select(F.col("event_date").alias("verdict_date"), ANONYMOUS_ID, "user_agent", "device_type")
        .where(F.col("user_agent").isNotNull() | (F.col("device_type") == "bot"))
        .distinct()
    )
    agents = seen.select("user_agent").where(F.col("user_agent").isNotNull()).distinct()
    low = F.lower(F.col("user_agent"))
    headless = reduce(lambda a, b: a | b, [low.contains(m.lower()) for m in markers], F.lit(False))
    agents = agents.select("user_agent", is_listed_crawler("user_agent").alias("_listed"), headless.alias("_headless"))
    judged = (
        seen.join(agents, "user_agent", "left")
        .groupBy("verdict_date", ANONYMOUS_ID)
        .agg(
            F.max(F.coalesce(F.col("_listed"), F.lit(False)) | (F.col("device_type") == "bot")).alias("_crawler"),
            F.max(F.coalesce(F.col("_headless"), F.lit(False))).alias("_headless"),
        )
    )
    return _hits(judged.where("_crawler"), ANONYMOUS_ID, ANONYMOUS_ID, "known_crawler", _no_evidence()).unionByName(
        _hits(judged.where("_headless"), ANONYMOUS_ID, ANONYMOUS_ID, "headless", _no_evidence())
    )


def _rate_hits(events: DataFrame, max_per_minute: int) -> DataFrame:
    """inhuman_rate: the densest one-minute interval, counted from each event onwards."""
    minute = Window.partitionBy(ANONYMOUS_ID).orderBy(_millis("event_time")).rangeBetween(0, 59_999)
    dense = (
        events.select(
            ANONYMOUS_ID,
            F.count(F.lit(1)).over(minute).alias("_n"),
            _burst_dates("event_date", minute).alias("_dates"),
        )
        .where(F.col("_n") >= max_per_minute)
        .select(ANONYMOUS_ID, "_n", F.explode("_dates").alias("verdict_date"))
        .groupBy("verdict_date", ANONYMOUS_ID)
        .agg(F.max("_n").alias("_n"))
    )
    return _hits(dense, ANONYMOUS_ID, ANONYMOUS_ID, "inhuman_rate", _evidence(max_events_per_minute=F.col("_n")))


def _timing_hits(events: DataFrame, min_events: int, max_cv: float) -> DataFrame:
    """regular_timing: coefficient of variation of the gaps of one device's day."""
    clock = "device_event_time" if "device_event_time" in events.columns else "event_time"
    day = Window.partitionBy(ANONYMOUS_ID, "event_date").orderBy(_millis(clock), "event_id")
    gaps = events.select(
        ANONYMOUS_ID,
        "event_date",
        ((_millis(clock) - F.lag(_millis(clock)).over(day)) / 1000.0).alias("_gap"),
    )
    stats = gaps.groupBy(F.col("event_date").alias("verdict_date"), ANONYMOUS_ID).agg(
        F.count(F.lit(1)).alias("_n"), F.avg("_gap").alias("_mean"), F.stddev_pop("_gap").alias("_sd")
    )
    regular = stats.where((F.col("_n") >= min_events) & (F.col("_mean") > 0) & (F.col("_sd") / F.col("_mean") < max_cv))
    return _hits(
        regular,
        ANONYMOUS_ID,
        ANONYMOUS_ID,
        "regular_timing",
        _evidence(gap_cv=F.col("_sd") / F.col("_mean"), mean_gap_seconds=F.col("_mean"), timed_events=F.col("_n")),
    )


def _card_testing_hits(events: DataFrame, window_minutes: float, min_failed: int) -> DataFrame:
    """card_testing: failed payments of one device within the window; the device and its IPs."""
    span = int(window_minutes * 60_000) - 1
    window = Window.partitionBy(ANONYMOUS_ID).orderBy(_millis("event_time")).rangeBetween(0, span)
    bursts = (
        events.where(F.col("event_type") == "payment_failed")
        .select(
            ANONYMOUS_ID,
            F.count(F.lit(1)).over(window).alias("_n"),
            F.collect_set(IP).over(window).alias("_ips"),
            _burst_dates("event_date", window).alias("_dates"),
        )
        .where(F.col("_n") >= min_failed)
        .select(ANONYMOUS_ID, "_n", "_ips", F.explode("_dates").alias("verdict_date"))
    )
    devices = bursts.groupBy("verdict_date", ANONYMOUS_ID).agg(F.max("_n").alias("_n"))
    ips = (
        bursts.select("verdict_date", "_n", F.explode("_ips").alias(IP))
        .groupBy("verdict_date", IP)
        .agg(F.max("_n").alias("_n"))
    )
    evidence = _evidence(failed_payments=F.col("_n"))
    return _hits(devices, ANONYMOUS_ID, ANONYMOUS_ID, "card_testing", evidence).unionByName(
        _hits(ips, IP, IP, "card_testing", evidence)
    )


def _account(events: DataFrame) -> Column | None:
    present = [c for c in ACCOUNT_COLUMNS if c in events.columns]
    if "email" not in present:
        return None
    return F.coalesce(*[F.lower(F.col(c)) for c in present])


def _stuffing_hits(events: DataFrame, window_minutes: float, min_failed: int, min_accounts: int) -> DataFrame:
    """credential_stuffing: failed logins of one IP within the window; the IP and its devices."""
    span = int(window_minutes * 60_000) - 1
    window = Window.partitionBy(IP).orderBy(_millis("event_time")).rangeBetween(0, span)
    account = _account(events)
    if account is None:
        # Failed logins carry no user_id, so without the typed e-mail accounts cannot be told apart.
        log.warning("credential_stuffing: no email column in the input; min_distinct_accounts is not applied")
    failures = events.where(
        (F.col("event_type") == "login") & (F.col("login_result") == "failure") & F.col(IP).isNotNull()
    ).select(
        IP, ANONYMOUS_ID, "event_time", "event_date", (account if account is not None else F.lit(None)).alias("_acct")
    )
    bursts = failures.select(
        IP,
        F.count(F.lit(1)).over(window).alias("_n"),
        F.size(F.collect_set("_acct").over(window)).alias("_accounts"),
        F.collect_set(ANONYMOUS_ID).over(window).alias("_devices"),
        _burst_dates("event_date", window).alias("_dates"),
    ).where((F.col("_n") >= min_failed) & ((F.col("_accounts") >= min_accounts) | F.lit(account is None)))
    bursts = bursts.select(IP, "_n", "_accounts", "_devices", F.explode("_dates").alias("verdict_date"))
    ips = bursts.groupBy("verdict_date", IP).agg(
        F.max("_n").alias("_n"),
        F.max("_accounts").alias("_accounts"),
        F.max(F.size("_devices")).alias("_n_devices"),
    )
    devices = (
        bursts.select("verdict_date", "_n", "_accounts", F.size("_devices").alias("_n_devices"), "_devices")
        .select("*", F.explode("_devices").alias(ANONYMOUS_ID))
        .groupBy("verdict_date", ANONYMOUS_ID)
        .agg(
            F.max("_n").alias("_n"),
            F.max("_accounts").alias("_accounts"),
            F.max("_n_devices").alias("_n_devices"),
        )
    )
    counts = {"failed_logins": F.col("_n"), "distinct_anonymous_ids": F.col("_n_devices")}
    if account is not None:
        counts["distinct_accounts"] = F.col("_accounts")
    evidence = _evidence(**counts)
    return _hits(ips, IP, IP, "credential_stuffing", evidence).unionByName(
        _hits(devices, ANONYMOUS_ID, ANONYMOUS_ID, "credential_stuffing", evidence)
    )


def _actor_days(events: DataFrame, actor_type: str) -> DataFrame:
    return (
        events.where(F.col(actor_type).isNotNull())
        .groupBy(F.col("event_date").alias("verdict_date"), F.col(actor_type).alias("actor"))
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.min("event_time").alias("first_seen"),
            F.max("event_time").alias("last_seen"),
        )
        .withColumn("actor_type", F.lit(actor_type))
    )


def detect_actors(events: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """Verdicts on non-human or hostile actors: one row per actor per day (``silver.actor_verdicts``).

    ``events`` are conformed events (one row per event_id) with the raw ``anonymous_id``, ``ip``
    and ``user_agent``, plus ``device_type``, ``event_type``, ``login_result``, ``event_time``,
    ``event_date`` and, when available, ``device_event_time`` and the raw login ``email``.
    ``params`` is ``silver`` of the configuration (thresholds in ``params["bots"]``). ``actor`` holds
    the raw value; the writer pseudonymises it. ``reasons`` is sorted; ``evidence`` holds the
    numbers behind the rate, timing, card and login rules (the largest value of the day).
    """
    conf = params["bots"]
    rate, cards, logins = conf["rate"], conf["card_testing"], conf["credential_stuffing"]
    paced = events.where(~F.col("event_type").isin(*HEARTBEAT_EVENTS))
    hits = reduce(
        DataFrame.unionByName,
        [
            _user_agent_hits(events, conf["headless_markers"]),
            _rate_hits(paced, int(rate["max_events_per_minute"])),
            _timing_hits(paced, int(rate["min_events"]), float(rate["max_gap_cv"])),
            _card_testing_hits(events, float(cards["window_minutes"]), int(cards["min_failed_payments"])),
            _stuffing_hits(
                events,
                float(logins["window_minutes"]),
                int(logins["min_failed_logins"]),
                int(logins["min_distinct_accounts"]),
            ),
        ],
    )
    # Each rule gives at most one row per actor-day, and the rules use disjoint evidence keys.
    verdicts = (
        hits.select(*_KEYS, "reason", F.explode_outer("evidence").alias("_key", "_value"))
        .groupBy(*_KEYS)
        .agg(
            F.array_sort(F.collect_set("reason")).alias("reasons"),
            F.map_from_entries(
                F.collect_list(F.when(F.col("_key").isNotNull(), F.struct(F.col("_key"), F.col("_value"))))
            ).alias("evidence"),
        )
    )
    stats = _actor_days(events, ANONYMOUS_ID).unionByName(_actor_days(events, IP))
    return conform(verdicts.join(stats, _KEYS, "inner"), TABLE)


def flag_events(events: DataFrame, verdicts: DataFrame) -> DataFrame:
    """``events`` plus ``is_bot`` and ``bot_reasons``: the union of the reasons of the verdicts on
    the event's anonymous_id or IP for the event's date (sorted, distinct; empty for humans).

    ``verdicts`` must hold the same (raw) identifiers as ``events``: flag before pseudonymising.
    """
    v = verdicts.select("verdict_date", "actor_type", "actor", "reasons")
    by_device = v.where(F.col("actor_type") == ANONYMOUS_ID).select(
        F.col("verdict_date").alias("_d1"), F.col("actor").alias("_a1"), F.col("reasons").alias("_r1")
    )
    by_ip = v.where(F.col("actor_type") == IP).select(
        F.col("verdict_date").alias("_d2"), F.col("actor").alias("_a2"), F.col("reasons").alias("_r2")
    )
    empty = F.array().cast("array<string>")
    # Verdicts are a row per flagged actor and day, a few thousand even on a sale day: broadcast
    # them rather than shuffle every event to meet them.
    joined = events.join(
        F.broadcast(by_device), (F.col("event_date") == F.col("_d1")) & (F.col(ANONYMOUS_ID) == F.col("_a1")), "left"
    ).join(F.broadcast(by_ip), (F.col("event_date") == F.col("_d2")) & (F.col(IP) == F.col("_a2")), "left")
    reasons = F.array_sort(F.array_distinct(F.concat(F.coalesce("_r1", empty), F.coalesce("_r2", empty))))
    return joined.select(
        *[F.col(c) for c in events.columns],
        (F.size(reasons) > 0).alias("is_bot"),
        reasons.alias("bot_reasons"),
    )
