"""gold.search_quality_daily: how well site search serves each (normalised) query, per day.

Normalisation, in order: lower case; Indonesian reduplication folded ("baju-baju" and "baju2" are
"baju"); every run of characters other than letters and digits becomes one space; then the
corrections of ``gold.browsing.query_corrections`` replace whole words or phrases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform

TABLE = "gold.search_quality_daily"


def _clean_text(text: str) -> str:
    """The same cleaning as :func:`normalise_query` before corrections, for the correction keys."""
    text = re.sub(r"\b(\w+)-\1\b", r"\1", text.strip().lower())
    text = re.sub(r"\b([^\W\d_]{2,})2\b", r"\1", text)
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def normalise_query(query: Column, corrections: Mapping[str, str]) -> Column:
    """The normalised form of a search query (see the module docstring); null stays null."""
    q = F.lower(F.trim(query))
    q = F.regexp_replace(q, r"\b(\p{L}+)-\1\b", "$1")
    q = F.regexp_replace(q, r"\b(\p{L}{2,})2\b", "$1")
    q = F.trim(F.regexp_replace(q, r"[^\p{L}\p{N}]+", " "))
    cleaned = {_clean_text(k): _clean_text(v) for k, v in corrections.items()}
    # Phrases first (their words may be corrections too), longest first so "skin care x" wins over parts.
    for key in sorted((k for k in cleaned if " " in k), key=len, reverse=True):
        q = F.regexp_replace(q, rf"(^| ){re.escape(key)}( |$)", f"$1{cleaned[key]}$2")
    words = {k: v for k, v in cleaned.items() if " " not in k}
    if words:
        lookup = F.create_map(*[F.lit(x) for kv in sorted(words.items()) for x in kv])
        q = F.array_join(F.transform(F.split(q, " "), lambda w: F.coalesce(F.try_element_at(lookup, w), w)), " ")
    return F.nullif(q, F.lit(""))


RARE = "(rare)"


def transform(events: DataFrame, bought: DataFrame, people: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """gold.search_quality_daily from scoped events with ``session_date`` (see gold.browsing).

    ``bought`` has ``session_id, product_id, created_at``: products in the orders of each session;
    ``people`` has ``session_id, person``: the account of the session, else its device.

    A query is free text and can hold a name, a phone number or an address: one searched by fewer
    than ``min_people_per_query`` distinct people on a date is published as ``(rare)``, its searches
    counted with the other rare ones of that date.
    """
    searches = (
        events.where(F.col("event_type") == "search")
        .select(
            F.col("session_date").alias("date"),
            "session_id",
            "search_id",
            F.col("event_time").alias("searched_at"),
            F.lower(F.trim(F.col("query"))).alias("_typed"),
            normalise_query(F.col("query"), params["query_corrections"]).alias("query_normalised"),
            "results_count",
        )
        .where(F.col("query_normalised").isNotNull())
    )
    clicks = (
        events.where(F.col("event_type") == "search_result_click")
        .select("search_id", "product_id", "position", F.col("event_time").alias("clicked_at"))
        .join(searches.select("search_id", "session_id"), "search_id")
    )
    carts = events.where(F.col("event_type") == "add_to_cart").select(
        "session_id", "product_id", F.col("event_time").alias("carted_at")
    )
    carted = (
        clicks.join(carts, ["session_id", "product_id"])
        .where(F.col("carted_at") >= F.col("clicked_at"))
        .select("search_id")
        .distinct()
        .withColumn("_carted", F.lit(True))
    )
    purchased = (
        clicks.join(bought, ["session_id", "product_id"])
        .where(F.col("created_at") >= F.col("clicked_at"))
        .select("search_id")
        .distinct()
        .withColumn("_bought", F.lit(True))
    )
    clicked = clicks.groupBy("search_id").agg(F.count("*").alias("_clicks"), F.sum("position").alias("_positions"))
    in_session = Window.partitionBy("session_id").orderBy("searched_at", "search_id")
    gap = F.unix_micros(F.lead("searched_at").over(in_session)) - F.unix_micros(F.col("searched_at"))
    refined = (gap <= F.lit(int(float(params["refinement_seconds"]) * 1_000_000))) & (
        F.lead("query_normalised").over(in_session) != F.col("query_normalised")
    )
    per_search = (
        searches.withColumn("_refined", F.coalesce(refined, F.lit(False)))
        .join(clicked, "search_id", "left")
        .join(carted, "search_id", "left")
        .join(purchased, "search_id", "left")
        .fillna(0, ["_clicks", "_positions"])
        .fillna(False, ["_carted", "_bought"])
    )

    def share(condition: Column) -> Column:
        return F.avg(condition.cast("double"))

    k = int(params["min_people_per_query"])
    by_query = Window.partitionBy("date", "query_normalised")
    # Distinct people per query and date: the size of a set, as count(DISTINCT) is no window function.
    seen_by = F.size(F.collect_set("person").over(by_query))
    per_search = per_search.join(people, "session_id", "left").withColumn(
        "query_normalised", F.when(seen_by >= F.lit(k), F.col("query_normalised")).otherwise(F.lit(RARE))
    )
    out = per_search.groupBy("date", "query_normalised").agg(
        F.count("*").alias("searches"),
        F.count_distinct("_typed").alias("query_variants"),
        share(F.col("results_count") == 0).alias("zero_result_rate"),
        share(F.col("_clicks") > 0).alias("click_through_rate"),
        (F.sum("_positions") / F.nullif(F.sum("_clicks"), F.lit(0))).alias("mean_click_position"),
        share(F.col("_refined")).alias("refinement_rate"),
        share(F.col("_carted")).alias("search_to_cart_rate"),
        share(F.col("_bought")).alias("search_to_purchase_rate"),
    )
    return conform(out, TABLE)
