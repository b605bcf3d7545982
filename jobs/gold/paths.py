"""gold.page_transitions_daily and gold.navigation_paths: how visitors move between kinds of page.

A session's page sequence is the page_type of its page or screen views in time order, with
repeats in a row collapsed (three product pages in a row are one step: "product").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform
from jobs.silver.sessions import PAGE_VIEW_EVENTS

ENTRANCE, EXIT = "(entrance)", "(exit)"
CONFIRMATION = "order_confirmation"
SEPARATOR = " > "


def page_sequences(events: DataFrame, session_facts: DataFrame) -> DataFrame:
    """``date, session_id, pages``: each session's collapsed page-type sequence (scoped events)."""
    views = events.where(F.col("event_type").isin(*PAGE_VIEW_EVENTS) | (F.col("page_type") == CONFIRMATION))
    ordered = views.groupBy("session_id").agg(
        F.array_sort(F.collect_list(F.struct("event_time", "event_id", "page_type"))).alias("_views")
    )
    types = F.transform(F.col("_views"), lambda v: v["page_type"])
    collapsed = F.filter(
        F.col("_types"), lambda x, i: F.when(i == 0, F.lit(True)).otherwise(x != F.get(F.col("_types"), i - 1))
    )
    return (
        ordered.withColumn("_types", types)
        .withColumn("pages", collapsed)
        .join(session_facts.select("session_id", F.col("session_date").alias("date")), "session_id")
        .select("date", "session_id", "pages")
    )


def transitions(sequences: DataFrame) -> DataFrame:
    """gold.page_transitions_daily from :func:`page_sequences`."""
    chain = F.concat(F.array(F.lit(ENTRANCE)), F.col("pages"), F.array(F.lit(EXIT)))
    moves = sequences.select("date", F.posexplode(chain).alias("i", "from_page_type"), chain.alias("_chain")).where(
        F.col("from_page_type") != EXIT
    )
    moves = moves.withColumn("to_page_type", F.element_at(F.col("_chain"), F.col("i") + 2))
    counted = moves.groupBy("date", "from_page_type", "to_page_type").agg(F.count("*").alias("transitions"))
    out_of = Window.partitionBy("date", "from_page_type")
    return conform(
        counted.withColumn("probability", F.col("transitions") / F.sum("transitions").over(out_of)),
        "gold.page_transitions_daily",
    )


def top_paths(sequences: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """gold.navigation_paths: the most common last steps before a purchase and before an exit."""
    n = int(params["max_path_steps"])
    done = F.array_position(F.col("pages"), CONFIRMATION)
    before = F.when(done > 0, F.slice(F.col("pages"), 1, (done - 1).cast("int"))).otherwise(F.col("pages"))
    tail = F.when(F.size(before) > n, F.slice(before, -n, n)).otherwise(before)
    paths = sequences.select(
        "date",
        F.when(done > 0, F.lit("purchase")).otherwise(F.lit("exit")).alias("outcome"),
        tail.alias("_path"),
    ).where(F.size("_path") > 0)
    counted = paths.groupBy("date", "outcome", "_path").agg(F.count("*").alias("sessions"))
    by_outcome = Window.partitionBy("date", "outcome")
    ranked = counted.select(
        "date",
        "outcome",
        F.array_join("_path", SEPARATOR).alias("path"),
        F.size("_path").alias("steps"),
        "sessions",
        (F.col("sessions") / F.sum("sessions").over(by_outcome)).alias("share"),
    ).withColumn("rank", F.row_number().over(by_outcome.orderBy(F.col("sessions").desc(), F.col("path"))))
    return conform(ranked.where(F.col("rank") <= int(params["top_paths"])), "gold.navigation_paths")
