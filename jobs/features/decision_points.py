"""Abandonment at the moment of decision: one row per cart and decision point, from what was known then.

A cart meets up to three decision points (:data:`POINTS`): its first ``add_to_cart``, its first
``begin_checkout`` and its first ``add_payment_info``, each within the cart's first life (the events
gold.cart_abandonment judged it on). At a point, the decision event's time ``t`` is the cut: the row
is made only of

- the cart so far: the cart's events with ``event_time <= t`` (value, lines, adds and removes, age,
  coupon rejections, out-of-stock errors, shipping quoted, failed payments);
- the session so far: events of the decision event's session with ``event_time <= t`` (pages,
  product views, searches, minutes, p90 page load, failing pages, other carts);
- the decision event itself: local hour and day of week, channel, device, logged in;
- the user's features.user_daily row valid at ``t`` (:func:`jobs.features.retrieval.point_in_time_join`):
  the row of ``t``'s UTC date, built from data before that date, i.e. as of the day before.

The label, ``left`` (1 when the cart was abandoned or recovered, 0 when converted), comes from
gold.cart_abandonment and is never a feature. Open and emptied carts have no label and no row.
``tests/ml/test_decision_points.py`` removes and moves every event after each point and checks the
rows do not change.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.features.retrieval import point_in_time_join

#: Decision point → the event that marks it, and the stage it stands for (gold.abandonment's STAGES).
POINTS: dict[str, str] = {"add_to_cart": "cart", "begin_checkout": "checkout", "add_payment_info": "payment"}
ENDED = ("converted", "abandoned", "recovered")
LABEL = "left"

#: Numeric features known at the decision point, and what they are (the model cards list them).
NUMERIC: dict[str, str] = {
    "log_cart_value": "log(1 + cart value in IDR) at the decision event",
    "cart_lines": "cart lines at the decision event",
    "adds": "add_to_cart events of the cart so far",
    "removes": "remove_from_cart events of the cart so far",
    "cart_age_min": "minutes since the cart's first event",
    "cart_sessions": "sessions the cart has spanned so far",
    "coupon_rejections": "rejected coupons so far",
    "out_of_stock_errors": "out_of_stock errors on the cart so far",
    "shipping_share": "highest shipping cost quoted so far / cart value then (0 when none quoted)",
    "failed_payments": "payment_failed events of the cart so far",
    "session_page_views": "page views of the decision event's session so far",
    "session_product_views": "product views of that session so far",
    "session_searches": "searches of that session so far",
    "session_minutes": "minutes since that session's first event",
    "session_p90_load_ms": "p90 page load of that session so far (missing when no load time was sent)",
    "session_page_errors": "failing pages (errors other than out_of_stock) of that session so far",
    "session_carts": "carts touched in that session so far",
    "local_hour": "local hour of the decision event",
    "local_day_of_week": "local ISO day of week of the decision event",
    "logged_in": "1 when the decision event carries an account",
}
CATEGORICAL: dict[str, str] = {
    "channel": "channel of the decision event",
    "device_type": "device type of the decision event",
}
#: Columns of a decision row that are not features.
KEYS = ("cart_id", "cart_date", "user_id", "decision_point", "decision_time", "cart_value", "primary_reason", LABEL)


def user_feature_doc(names: list[str]) -> dict[str, str]:
    return {f"user_{n}": f"features.user_daily.{n} as of the day before (null without an account)" for n in names}


def feature_columns(user_features: list[str]) -> list[str]:
    return [*NUMERIC, *(f"user_{n}" for n in user_features), *CATEGORICAL]


def _upto(t: str) -> Column:
    return F.col("event_time") <= F.col(t)


def decisions(events: DataFrame, carts: DataFrame, point: str, outcomes: tuple[str, ...] = ENDED) -> DataFrame:
    """Carts with an outcome in ``outcomes`` that reached ``point`` in their first life, with the
    decision event's context.

    ``carts`` are gold.cart_abandonment rows; ``events`` silver.events rows. Columns: ``cart_id``,
    ``cart_date``, ``decision_time``, ``session_id``, ``user_id``, ``channel``, ``device_type``,
    ``local_hour``, ``local_day_of_week``, ``cart_value`` (at the end of the first life so far: what
    is at stake, not a feature), ``primary_reason`` and the label (null for an open cart).
    """
    if point not in POINTS:
        raise ValueError(f"unknown decision point {point!r}: one of {sorted(POINTS)}")
    order = F.struct("event_time", "event_id")
    first = (
        events.where((F.col("event_type") == point) & F.col("cart_id").isNotNull())
        .groupBy("cart_id")
        .agg(
            F.min_by(
                F.struct(
                    F.col("event_time").alias("decision_time"),
                    "session_id",
                    "user_id",
                    "channel",
                    "device_type",
                    "local_hour",
                    "local_day_of_week",
                ),
                order,
            ).alias("d")
        )
        .select("cart_id", "d.*")
    )
    label = F.when(F.col("outcome").isin(*ENDED), (F.col("outcome") != "converted").cast("int"))
    ended = carts.where(F.col("outcome").isin(*outcomes)).select(
        "cart_id",
        "cart_date",
        "last_activity",
        F.col("cart_value").alias("_stake"),
        "primary_reason",
        label.alias(LABEL),
    )
    return (
        ended.join(first, "cart_id")
        .where(F.col("decision_time") <= F.col("last_activity"))  # within the first life
        .drop("last_activity")
        .withColumnRenamed("_stake", "cart_value")
        .withColumn("decision_point", F.lit(point))
    )


def _cart_so_far(events: DataFrame, points: DataFrame) -> DataFrame:
    """Per cart, what its own events say up to the decision time."""
    et = F.col("event_type")
    mine = events.where(F.col("cart_id").isNotNull()).join(points.select("cart_id", "decision_time"), "cart_id")
    mine = mine.where(_upto("decision_time"))
    order = F.struct("event_time", "event_id")
    signed = (
        F.when(et == "add_to_cart", F.coalesce("quantity", F.lit(1)))
        .when(et == "remove_from_cart", -F.coalesce("quantity", F.lit(1)))
        .otherwise(0)
    )
    last_value = F.max_by("cart_value", F.when(F.col("cart_value").isNotNull(), order))
    last_lines = F.max_by(F.size("items"), F.when(F.col("items").isNotNull(), order))
    return mine.groupBy("cart_id").agg(
        F.log1p(F.coalesce(last_value, F.sum(signed * F.coalesce("price", F.lit(0)))).cast("double")).alias(
            "log_cart_value"
        ),
        F.coalesce(last_lines.cast("double"), F.greatest(F.sum(signed), F.lit(0)).cast("double")).alias("cart_lines"),
        F.count(F.when(et == "add_to_cart", 1)).cast("double").alias("adds"),
        F.count(F.when(et == "remove_from_cart", 1)).cast("double").alias("removes"),
        ((F.max("decision_time").cast("double") - F.min("event_time").cast("double")) / 60).alias("cart_age_min"),
        F.count_distinct("session_id").cast("double").alias("cart_sessions"),
        F.count(F.when((et == "apply_coupon") & (F.col("coupon_result") == "rejected"), 1))
        .cast("double")
        .alias("coupon_rejections"),
        F.count(F.when((et == "error") & (F.col("error_code") == "out_of_stock"), 1))
        .cast("double")
        .alias("out_of_stock_errors"),
        F.coalesce(
            F.max(
                F.when(
                    (et == "add_shipping_info") & (F.col("cart_value") > 0),
                    F.col("shipping_cost") / F.col("cart_value"),
                )
            ),
            F.lit(0.0),
        ).alias("shipping_share"),
        F.count(F.when(et == "payment_failed", 1)).cast("double").alias("failed_payments"),
    )


def _session_so_far(events: DataFrame, points: DataFrame) -> DataFrame:
    """Per cart, what the decision event's session says up to the decision time."""
    et = F.col("event_type")
    keys = points.select(F.col("cart_id").alias("_cart"), "decision_time", "session_id")
    keys = keys.where(F.col("session_id").isNotNull())
    mine = events.where(F.col("session_id").isNotNull()).join(keys, "session_id").where(_upto("decision_time"))
    return mine.groupBy(F.col("_cart").alias("cart_id")).agg(
        F.count(F.when(et == "page_view", 1)).cast("double").alias("session_page_views"),
        F.count(F.when(et == "product_view", 1)).cast("double").alias("session_product_views"),
        F.count(F.when(F.col("source") == "search", 1)).cast("double").alias("session_searches"),
        ((F.max("decision_time").cast("double") - F.min("event_time").cast("double")) / 60).alias("session_minutes"),
        F.percentile_approx("page_load_ms", 0.9, 1000).cast("double").alias("session_p90_load_ms"),
        F.count(F.when((et == "error") & (F.col("error_code") != "out_of_stock"), 1))
        .cast("double")
        .alias("session_page_errors"),
        F.count_distinct("cart_id").cast("double").alias("session_carts"),
    )


def decision_rows(
    events: DataFrame,
    carts: DataFrame,
    point: str,
    user_features: DataFrame,
    user_feature_names: list[str],
    ttl_days: int,
    outcomes: tuple[str, ...] = ENDED,
) -> DataFrame:
    """One row per cart at ``point`` (ended carts, or those of ``outcomes``): :data:`KEYS` and the
    features known then (pure).

    ``user_features`` is features.user_daily (as the quality gate let it through); its rows join
    point in time at the decision time, so a row built from the decision day's data is never used.
    """
    points = decisions(events, carts, point, outcomes)
    session_cols = [c for c in NUMERIC if c.startswith("session_")]
    entity = points.select("cart_id", "user_id", F.col("decision_time").alias("event_timestamp"))
    user = point_in_time_join(
        entity.where(F.col("user_id").isNotNull()), user_features, ttl_days, user_feature_names
    ).select("cart_id", *[F.col(n).cast("double").alias(f"user_{n}") for n in user_feature_names])
    out = (
        points.join(_cart_so_far(events, points), "cart_id", "left")
        .join(_session_so_far(events, points), "cart_id", "left")
        .join(user, "cart_id", "left")
        .fillna(0.0, [c for c in session_cols if c != "session_p90_load_ms"])
        .withColumn("local_hour", F.col("local_hour").cast("double"))
        .withColumn("local_day_of_week", F.col("local_day_of_week").cast("double"))
        .withColumn("logged_in", F.col("user_id").isNotNull().cast("double"))
        .withColumn("channel", F.coalesce("channel", F.lit("unknown")))
        .withColumn("device_type", F.coalesce("device_type", F.lit("unknown")))
    )
    return out.select(*KEYS, *feature_columns(user_feature_names))
