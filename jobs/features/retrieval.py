"""Reading features.user_daily for ML: point-in-time training frames and the scoring snapshot.

Semantics are Feast's ``get_historical_features``: each entity row ``(user_id, event_timestamp,
labels…)`` gets the features of the *latest* row whose validity start (``as_of_date`` 00:00 UTC)
is at or before ``event_timestamp`` and not older than ``features.ttl_days``, i.e.
``as_of_date <= event_timestamp < as_of_date + ttl_days``. Because a row of as_of_date A is built
from data strictly before A, a label observed at ``event_timestamp`` never sees the future.

No row (the user had no activity in the 90 days before, or the table has no such date yet) gives
null features; counts are then zero by definition, which the caller may fill.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import ensure_table, read_table
from jobs.features.definitions import TABLE, feature_names


def point_in_time_join(
    entities: DataFrame, features: DataFrame, ttl_days: int, names: list[str] | None = None
) -> DataFrame:
    """``entities`` with ``as_of_date`` (of the feature row used, or null) and the feature columns.

    Entity rows are kept as they are, duplicates included; the feature row of each is the latest
    with ``as_of_date`` in ``[date(event_timestamp) - ttl_days + 1, date(event_timestamp)]``, which
    is the same as ``as_of_date <= event_timestamp < as_of_date + ttl_days`` for daily rows.
    """
    if ttl_days < 1:
        raise ValueError("ttl_days must be at least 1")
    names = names or feature_names()
    clash = sorted(set(names) & set(entities.columns) | ({"as_of_date"} & set(entities.columns)))
    if clash:
        raise ValueError(f"entity columns clash with feature columns: {clash}")
    rows = features.select("user_id", "as_of_date", *names)
    keys = entities.select("user_id", "event_timestamp").where(F.col("event_timestamp").isNotNull()).distinct()
    day = F.to_date(F.col("event_timestamp"))
    chosen = (
        keys.join(
            rows.select(F.col("user_id").alias("_uid"), "as_of_date"),
            (F.col("user_id") == F.col("_uid"))
            & F.col("as_of_date").between(F.date_sub(day, ttl_days - 1), day)
            # Validity starts at as_of_date 00:00 UTC: a timestamp on that day is already covered.
            & (F.to_timestamp(F.col("as_of_date")) <= F.col("event_timestamp")),
        )
        .groupBy("user_id", "event_timestamp")
        .agg(F.max("as_of_date").alias("as_of_date"))
    )
    return entities.join(chosen, ["user_id", "event_timestamp"], "left").join(rows, ["user_id", "as_of_date"], "left")


def get_training_frame(
    spark: SparkSession, entities: DataFrame, settings: Settings, features: DataFrame | None = None
) -> DataFrame:
    """Point-in-time-correct features for ``entities`` (``user_id``, ``event_timestamp``, labels…).

    ``features`` defaults to the whole feature table; pass
    ``jobs.quality.gate.validated_table(spark, "features.user_daily", settings)`` to train on what
    the quality gate let through only.
    """
    if features is None:
        ensure_table(spark, TABLE, settings)
        features = read_table(spark, TABLE, settings)
    return point_in_time_join(entities, features, int(settings["features"]["ttl_days"]))


def latest_features(spark: SparkSession, settings: Settings, as_of: date | None = None) -> DataFrame:
    """The scoring snapshot: every user's features of ``as_of`` (default: the newest as_of_date written).

    Same columns, in the same order, as a training frame's features, so a model trained on
    :func:`get_training_frame` scores these rows as they are.
    """
    ensure_table(spark, TABLE, settings)
    features = read_table(spark, TABLE, settings)
    if as_of is None:
        newest = features.agg(F.max("as_of_date")).first()
        as_of = newest[0] if newest else None
    if as_of is None:
        return features.select("user_id", "as_of_date", *feature_names()).limit(0)
    return features.where(F.col("as_of_date") == F.lit(as_of)).select("user_id", "as_of_date", *feature_names())


#: gold.customer_segments columns served to ML teams beside the features.
SEGMENT_COLUMNS = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment", "cluster_id"]


def get_segments_frame(
    spark: SparkSession, entities: DataFrame, settings: Settings, segments: DataFrame | None = None
) -> DataFrame:
    """Point-in-time segments for ``entities`` (``user_id``, ``event_timestamp``, labels…).

    The same semantics as :func:`get_training_frame` on gold.customer_segments, whose rows are
    written every ``gold.segments.cadence_days``: a row of as_of_date A serves
    ``A <= event_timestamp < A + cadence_days``, so a weekly segment labels the week it was made for.
    """
    if segments is None:
        ensure_table(spark, "gold.customer_segments", settings)
        segments = read_table(spark, "gold.customer_segments", settings)
    ttl = int(settings["gold"]["segments"]["cadence_days"])
    return point_in_time_join(entities, segments, ttl, SEGMENT_COLUMNS)


RECOMMENDATIONS = "gold.user_recommendations"


def _recommended_lists(recommendations: DataFrame) -> DataFrame:
    """``user_id, as_of_date, recommended_products``: each snapshot's products in rank order."""
    ranked = F.array_sort(F.collect_list(F.struct("rank", "product_id")))
    return (
        recommendations.groupBy("user_id", "as_of_date")
        .agg(ranked.alias("_ranked"))
        .select(
            "user_id", "as_of_date", F.transform("_ranked", lambda x: x["product_id"]).alias("recommended_products")
        )
    )


def get_recommendations_frame(
    spark: SparkSession, entities: DataFrame, settings: Settings, recommendations: DataFrame | None = None
) -> DataFrame:
    """Point-in-time recommendations for ``entities`` (``user_id``, ``event_timestamp``, labels…):
    ``as_of_date`` and ``recommended_products`` (gold.user_recommendations' top N in rank order), with
    :func:`get_training_frame`'s semantics and ttl (a daily snapshot serves its own day)."""
    if recommendations is None:
        ensure_table(spark, RECOMMENDATIONS, settings)
        recommendations = read_table(spark, RECOMMENDATIONS, settings)
    lists = _recommended_lists(recommendations)
    return point_in_time_join(entities, lists, int(settings["features"]["ttl_days"]), ["recommended_products"])


def latest_recommendations(
    spark: SparkSession, settings: Settings, as_of: date | None = None, recommendations: DataFrame | None = None
) -> DataFrame:
    """The serving snapshot: ``user_id, as_of_date, recommended_products`` of ``as_of`` (default: the
    newest as_of_date written), the same columns a training frame gets."""
    if recommendations is None:
        ensure_table(spark, RECOMMENDATIONS, settings)
        recommendations = read_table(spark, RECOMMENDATIONS, settings)
    if as_of is None:
        newest = recommendations.agg(F.max("as_of_date")).first()
        as_of = newest[0] if newest else None
    return _recommended_lists(recommendations.where(F.col("as_of_date") == F.lit(as_of)))
