"""Silver identity: which devices (anonymous_id) belong to which accounts (user_id).

Pairs come from consenting events of ``silver.events`` that carry both ids (both already keyed
pseudonyms). ``silver.identity_map`` holds one row per pair with the first and last time it was
seen. The daily job recomputes the pairs of its processing window and MERGEs them with
``first_seen = least(...)`` and ``last_seen = greatest(...)``: both are idempotent and
order-independent, so re-running a day, overlapping lookback windows and late events cannot
change the result, and N daily runs equal one full rebuild. There is deliberately no event
counter: adding a count again on every re-run would double it.

``stitch`` resolves each device to one account for sessions: the account most recently seen on
the device (latest last_seen; ties → earliest first_seen, then the smallest user_id, so the choice
is deterministic). On a shared device this attributes the device's anonymous history to its
latest user; user-level features that need point-in-time attribution should join the pairs on
their first_seen/last_seen interval instead.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform, ensure_table

EVENTS = "silver.events"
IDENTITY = "silver.identity_map"


def identity_pairs(events: DataFrame) -> DataFrame:
    """``silver.identity_map`` rows from conformed events: consenting (anonymous_id, user_id) pairs.

    Events without consent, without a user_id or without an anonymous_id are left out.
    """
    seen = events.where(F.col("consent_analytics") & F.col("anonymous_id").isNotNull() & F.col("user_id").isNotNull())
    return conform(
        seen.groupBy("anonymous_id", "user_id").agg(
            F.min("event_time").alias("first_seen"), F.max("event_time").alias("last_seen")
        ),
        IDENTITY,
    )


def merge_identity(spark: SparkSession, pairs: DataFrame, path: str) -> None:
    """MERGE ``identity_pairs`` into ``silver.identity_map`` at ``path``: insert new pairs, widen known ones.

    A known pair is rewritten only when the update widens its interval, so replays commit no change.
    """
    target = ensure_table(spark, IDENTITY, path=path)
    (
        target.alias("t")
        .merge(conform(pairs, IDENTITY).alias("s"), "t.anonymous_id = s.anonymous_id AND t.user_id = s.user_id")
        .whenMatchedUpdate(
            condition="s.first_seen < t.first_seen OR s.last_seen > t.last_seen",
            set={
                "first_seen": "least(t.first_seen, s.first_seen)",
                "last_seen": "greatest(t.last_seen, s.last_seen)",
            },
        )
        .whenNotMatchedInsertAll()
        .execute()
    )


def stitch(identity: DataFrame) -> DataFrame:
    """anonymous_id → user_id: one row per device with the account most recently seen on it.

    Columns: anonymous_id, user_id, users_on_device (accounts ever seen on the device; > 1 marks a
    shared device).
    """
    latest = Window.partitionBy("anonymous_id").orderBy(
        F.col("last_seen").desc(), F.col("first_seen").asc(), F.col("user_id").asc()
    )
    every = Window.partitionBy("anonymous_id")
    return (
        identity.withColumn("_rank", F.row_number().over(latest))
        .withColumn("users_on_device", F.count("*").over(every).cast("int"))
        .where(F.col("_rank") == 1)
        .select("anonymous_id", "user_id", "users_on_device")
    )


def stitch_sessions(sessions: DataFrame, identity: DataFrame) -> DataFrame:
    """Give a session without a logged-in user the device's account as known when the session ended.

    Point in time: only pairs first seen at or before ``session_end`` count, and of those the one
    first seen most recently wins (ties: the smaller user_id). So a session never borrows an
    account the device only met later, and the answer does not depend on when the job ran: a
    daily run and a full rebuild stitch alike. Sessions without analytics consent stay unstitched.
    """
    s = sessions.alias("s")
    candidates = (
        s.where(F.col("s.user_id").isNull() & F.col("s.consent_analytics"))
        .select("s.session_id", "s.anonymous_id", "s.session_end")
        .join(identity.alias("i"), "anonymous_id")
        .where(F.col("i.first_seen") <= F.col("session_end"))
    )
    pick = Window.partitionBy("session_id").orderBy(F.col("i.first_seen").desc(), F.col("i.user_id").asc())
    known = (
        candidates.withColumn("_rank", F.row_number().over(pick))
        .where(F.col("_rank") == 1)
        .select("session_id", F.col("i.user_id").alias("_stitched"))
    )
    return (
        sessions.join(known, "session_id", "left")
        .withColumn("user_id", F.coalesce(F.col("user_id"), F.col("_stitched")))
        .drop("_stitched")
        .select(*sessions.columns)
    )
