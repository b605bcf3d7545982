"""gold.funnel_daily: a closed purchase funnel per day and segment, with the previous period beside it.

Steps come from ``gold.browsing.funnel_steps`` (name and the event types that reach it; the first
step has none: every session enters there). A session reaches step k when it reached step k-1 and
then, at or after that moment, has an event of step k. Counting this way makes every step a subset
of the one before, so counts never rise along the funnel (the quality gate checks it).

Beside this ordered count, ``sessions_any_order`` counts the sessions that have an event of every
step 1..k at any time in the session, in whatever order (PostHog's "any order" funnel). Where device
clocks jitter, or a shop fires ``add_to_cart`` before the ``product_view`` it came from, the ordered
funnel undercounts; the any-order count shows by how much. It is never below the ordered count and
never rises along the funnel either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform
from jobs.gold.sessions import ORDER_EVENT

TABLE = "gold.funnel_daily"
SEGMENT = ["channel", "device_type", "region", "top_category", "tenure"]
UNKNOWN_REGION = "(unknown)"


@dataclass(frozen=True)
class Step:
    name: str
    events: tuple[str, ...]


def steps_from(params: Mapping[str, Any]) -> list[Step]:
    """The configured steps; only the first may have no events, and it must have none."""
    steps = [Step(str(s["name"]), tuple(s.get("events") or ())) for s in params["funnel_steps"]]
    if not steps or steps[0].events:
        raise ValueError("gold.browsing.funnel_steps must start with an entry step that has no events")
    if any(not s.events for s in steps[1:]):
        raise ValueError("every funnel step after the first needs at least one event type")
    if len({s.name for s in steps}) != len(steps):
        raise ValueError("funnel step names must be unique")
    return steps


def _at_or_after(moment: Column) -> Any:
    return lambda t: t >= moment


def step_times(
    session_facts: DataFrame, events: DataFrame, orders_of_sessions: DataFrame, steps: Sequence[Step]
) -> DataFrame:
    """``session_id``, ``_t0 .. _tN``: when each session first reached each step in order (null:
    never), and ``_any0 .. _anyN``: whether it has an event of every step up to each, in any order.

    ``events`` are the sessions' scoped silver events; ``orders_of_sessions`` adds the synthetic
    ``order_created`` event at each order's creation time.
    """
    wanted = {e for s in steps for e in s.events}
    stream = events.where(F.col("event_type").isin(*wanted)).select("session_id", "event_type", "event_time")
    if ORDER_EVENT in wanted:
        stream = stream.unionByName(
            orders_of_sessions.select(
                "session_id", F.lit(ORDER_EVENT).alias("event_type"), F.col("created_at").alias("event_time")
            )
        )
    lists = stream.groupBy("session_id").agg(
        *[
            F.collect_list(F.when(F.col("event_type").isin(*s.events), F.col("event_time"))).alias(f"_at{i}")
            for i, s in enumerate(steps)
            if s.events
        ]
    )
    out = session_facts.select("session_id", "session_start").join(lists, "session_id", "left")
    previous: Column = F.col("session_start")
    out = out.withColumn("_t0", previous).withColumn("_any0", F.lit(True))
    for i in range(1, len(steps)):
        prev = F.col(f"_t{i - 1}")
        reached = F.array_min(F.filter(F.col(f"_at{i}"), _at_or_after(prev)))
        has_step = F.coalesce(F.size(F.col(f"_at{i}")) > 0, F.lit(False))
        out = out.withColumn(f"_t{i}", F.when(prev.isNotNull(), reached))
        out = out.withColumn(f"_any{i}", F.col(f"_any{i - 1}") & has_step)
    n = len(steps)
    return out.select("session_id", *[f"_t{i}" for i in range(n)], *[f"_any{i}" for i in range(n)])


def transform(session_facts: DataFrame, times: DataFrame, steps: Sequence[Step]) -> DataFrame:
    """Funnel rows (without the previous-period columns) per session_date and segment."""
    s = session_facts.join(times, "session_id").select(
        F.col("session_date").alias("date"),
        "channel",
        "device_type",
        F.coalesce(F.col("region"), F.lit(UNKNOWN_REGION)).alias("region"),
        "top_category",
        "tenure",
        "session_start",
        "revenue",
        *[f"_t{i}" for i in range(len(steps))],
        *[f"_any{i}" for i in range(len(steps))],
    )
    start = F.unix_micros(F.col("session_start"))
    aggs = []
    for i in range(len(steps)):
        t = F.col(f"_t{i}")
        aggs += [
            F.count(t).alias(f"_n{i}"),
            F.median((F.unix_micros(t) - start) / F.lit(1_000_000.0)).alias(f"_m{i}"),
            F.sum(F.when(t.isNotNull(), F.col("revenue"))).alias(f"_r{i}"),
            F.count(F.when(F.col(f"_any{i}"), F.lit(1))).alias(f"_a{i}"),
        ]
    grouped = s.groupBy("date", *SEGMENT).agg(*aggs)
    rows = F.array(
        *[
            F.struct(
                F.lit(i).alias("step_index"),
                F.lit(step.name).alias("step"),
                F.col(f"_n{i}").alias("sessions"),
                F.col(f"_m{i}").alias("median_seconds_to_step"),
                F.col(f"_r{i}").alias("revenue"),
                F.col(f"_a{i}").alias("sessions_any_order"),
            )
            for i, step in enumerate(steps)
        ]
    )
    long = grouped.select("date", *SEGMENT, F.col("_n0").alias("_entered"), F.explode(rows).alias("r")).select(
        "date", *SEGMENT, "_entered", "r.*"
    )
    along = Window.partitionBy("date", *SEGMENT).orderBy("step_index")
    before = F.lag("sessions").over(along)
    return long.select(
        "date",
        *SEGMENT,
        "step_index",
        "step",
        "sessions",
        F.when(F.col("step_index") == 0, F.lit(1.0))
        .when(before > 0, F.col("sessions") / before)
        .alias("step_conversion"),
        (F.col("sessions") / F.col("_entered")).alias("overall_conversion"),
        F.coalesce(before - F.col("sessions"), F.lit(0)).alias("drop_off"),
        F.coalesce(F.col("median_seconds_to_step"), F.lit(0.0)).alias("median_seconds_to_step"),
        F.coalesce(F.col("revenue"), F.lit(0)).alias("revenue"),
        "sessions_any_order",
    )


def with_previous(current: DataFrame, earlier: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """Add the previous-period columns to :func:`transform`'s rows.

    Compared dates inside ``current`` are taken from it; ``earlier`` holds gold.funnel_daily rows of
    the compared dates before them.
    """
    days = int(params["previous_period_days"])
    cols = ["date", *SEGMENT, "step", "sessions", "step_conversion"]
    prev = (
        current.select(cols)
        .unionByName(earlier.select(cols))
        .select(
            F.col("date").alias("previous_date"),
            *SEGMENT,
            "step",
            F.col("sessions").alias("previous_sessions"),
            F.col("step_conversion").alias("previous_step_conversion"),
        )
    )
    out = current.withColumn("previous_date", F.date_sub(F.col("date"), days)).join(
        prev, ["previous_date", *SEGMENT, "step"], "left"
    )
    return conform(out, TABLE)
