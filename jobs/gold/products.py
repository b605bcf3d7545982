"""gold.product_engagement_daily and gold.product_pairs_daily: what is looked at, added and bought."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.tables import conform


def bought_products(orders_of_sessions: DataFrame, order_items: DataFrame) -> DataFrame:
    """``session_id, order_id, product_id, created_at, quantity, line_total``: lines of each session's orders."""
    return orders_of_sessions.select("session_id", "order_id", "created_at").join(
        order_items.select("order_id", "product_id", "quantity", "line_total"), "order_id"
    )


def engagement(events: DataFrame, bought: DataFrame, session_dates: DataFrame) -> DataFrame:
    """gold.product_engagement_daily from scoped events (with ``session_date``) and :func:`bought_products`."""
    looked = (
        events.where(F.col("event_type").isin("product_view", "add_to_cart") & F.col("product_id").isNotNull())
        .groupBy(F.col("session_date").alias("date"), "session_id", "product_id")
        .agg(
            F.count(F.when(F.col("event_type") == "product_view", 1)).alias("_views"),
            F.count(F.when(F.col("event_type") == "add_to_cart", 1)).alias("_carts"),
            F.max("top_category").alias("_top_category"),
            F.max("brand").alias("_brand"),
        )
    )
    sold = (
        bought.join(session_dates, "session_id")
        .groupBy(F.col("session_date").alias("date"), "session_id", "product_id")
        .agg(F.sum("quantity").alias("_units"), F.sum("line_total").alias("_revenue"))
    )
    per_session = looked.join(sold, ["date", "session_id", "product_id"], "full").fillna(
        0, ["_views", "_carts", "_units", "_revenue"]
    )
    viewed, added, ordered = F.col("_views") > 0, F.col("_carts") > 0, F.col("_units") > 0
    out = per_session.groupBy("date", "product_id").agg(
        F.max("_top_category").alias("top_category"),
        F.max("_brand").alias("brand"),
        F.sum("_views").alias("views"),
        F.count(F.when(viewed, 1)).alias("view_sessions"),
        F.sum("_carts").alias("carts"),
        F.count(F.when(added, 1)).alias("cart_sessions"),
        F.count(F.when(ordered, 1)).alias("purchase_sessions"),
        F.sum("_units").alias("units_sold"),
        F.sum("_revenue").alias("revenue"),
        F.count(F.when(viewed & added, 1)).alias("_viewed_added"),
        F.count(F.when(added & ordered, 1)).alias("_added_ordered"),
    )
    out = out.withColumns(
        {
            "view_to_cart_rate": F.col("_viewed_added") / F.nullif(F.col("view_sessions"), F.lit(0)),
            "cart_to_purchase_rate": F.col("_added_ordered") / F.nullif(F.col("cart_sessions"), F.lit(0)),
        }
    )
    return conform(out, "gold.product_engagement_daily")


def _pairs(baskets: DataFrame, group: str, kind: str) -> DataFrame:
    a = baskets.select("date", group, F.col("product_id").alias("product_a"))
    b = baskets.select(group, F.col("product_id").alias("product_b"))
    return (
        a.join(b, group)
        .where(F.col("product_a") < F.col("product_b"))
        .groupBy("date", "product_a", "product_b")
        .agg(F.count("*").alias("together"))
        .withColumn("kind", F.lit(kind))
    )


def pairs(events: DataFrame, bought: DataFrame, session_dates: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """gold.product_pairs_daily: top co-viewed (per session) and bought-together (per order) pairs."""
    limit = int(params["max_products_per_session"])
    seen = (
        events.where((F.col("event_type") == "product_view") & F.col("product_id").isNotNull())
        .groupBy(F.col("session_date").alias("date"), "session_id", "product_id")
        .agg(F.min("event_time").alias("_first"))
    )
    first_seen = Window.partitionBy("session_id").orderBy("_first", "product_id")
    seen = seen.withColumn("_n", F.row_number().over(first_seen)).where(F.col("_n") <= limit)
    baskets = (
        bought.join(session_dates, "session_id")
        .select(F.col("session_date").alias("date"), "order_id", "product_id")
        .distinct()
    )
    both = _pairs(seen, "session_id", "co_viewed").unionByName(_pairs(baskets, "order_id", "bought_together"))
    ranked = both.withColumn(
        "rank",
        F.row_number().over(
            Window.partitionBy("date", "kind").orderBy(F.col("together").desc(), "product_a", "product_b")
        ),
    )
    return conform(ranked.where(F.col("rank") <= int(params["top_pairs"])), "gold.product_pairs_daily")
