"""gold.similar_products and gold.user_recommendations: what each customer might buy next.

Rules (conf ``gold.recommendations``, docs/customers.md):

* Interactions: product_view and add_to_cart events of consenting human sessions
  (:func:`jobs.gold.sessions.behaviour_scope`), with the session's (stitched) ``user_id``, and the
  ordered products of orders with a buyer, not cancelled before the cut-off. Only the
  ``history_days`` before the cut-off (the as_of_date's 00:00 UTC) count, each weighted by
  ``0.5 ** (age_days / half_life_days)``.
* Similar products: co-view baskets are sessions (the first ``max_items_per_basket`` products
  viewed or carted), co-purchase baskets are buyers (their first ``max_items_per_basket`` bought
  products); a pair's weight in a basket is the smaller decay of its two products. score =
  (co_view_weight × co_views + co_purchase_weight × co_purchases) / sqrt(n_a × n_b), where n_x is
  the same weighted sum over the baskets holding x alone (a decayed cosine). Top ``top_similar``.
* A customer's candidates and score: :func:`recommend`, a ``blend`` of their own history through
  similar products, the popular products of their favourite categories and the popular products
  of the shop (decayed interaction weights of everyone over the last ``popularity_days``). Products
  they bought in the window are never recommended. Top ``top_n``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.tables import conform, ensure_table, read_table, replace_dates
from jobs.gold.sessions import behaviour_scope

SIMILAR = "gold.similar_products"
RECOMMENDATIONS = "gold.user_recommendations"
VIEW_KINDS = ("product_view", "add_to_cart")
PURCHASE = "purchase"
INTERACTIONS = "user_id string, session_id string, product_id string, top_category string, kind string, at timestamp"


def interactions(
    events: DataFrame, sessions: DataFrame, orders: DataFrame, items: DataFrame, by_device: bool = False
) -> DataFrame:
    """``user_id, session_id, product_id, top_category, kind, at, cancelled_at`` from silver rows (pure).

    Views and adds to cart of consenting human sessions (user from the session, null when
    anonymous), and purchases (``kind`` purchase, ``session_id`` null) of orders with a buyer; a
    purchase holds until its order is cancelled. ``by_device`` makes the device
    (``anonymous_id``) the customer where there is no account: for data without accounts (OTTO),
    evaluation only — the tables are per account.
    """
    scoped, consenting = behaviour_scope(events, sessions)
    customer = F.coalesce(F.col("user_id"), F.col("anonymous_id")) if by_device else F.col("user_id")
    viewed = (
        scoped.where(F.col("event_type").isin(*VIEW_KINDS) & F.col("product_id").isNotNull())
        .join(consenting.select("session_id", customer.alias("_customer")), "session_id")
        .select(
            F.col("_customer").alias("user_id"),
            "session_id",
            "product_id",
            "top_category",
            F.col("event_type").alias("kind"),
            F.col("event_time").alias("at"),
            F.lit(None).cast("timestamp").alias("cancelled_at"),
        )
    )
    bought = (
        orders.select("order_id", customer.alias("user_id"), "created_at", "cancelled_at")
        .where(F.col("user_id").isNotNull())
        .join(items.select("order_id", "product_id", "top_category"), "order_id")
        .select(
            "user_id",
            F.lit(None).cast("string").alias("session_id"),
            "product_id",
            "top_category",
            F.lit(PURCHASE).alias("kind"),
            F.col("created_at").alias("at"),
            "cancelled_at",
        )
    )
    return viewed.unionByName(bought)


def _decay(cutoff: Column, half_life_days: float) -> Column:
    age_days = (F.unix_micros(cutoff) - F.unix_micros(F.col("at"))) / 8.64e10
    return F.pow(F.lit(0.5), age_days / F.lit(float(half_life_days)))


def in_window(rows: DataFrame, cutoff: datetime, days: int, half_life_days: float) -> DataFrame:
    """Interaction rows of the ``days`` before ``cutoff`` (purchases not cancelled before it), with ``w``."""
    at = F.lit(cutoff).cast("timestamp")
    live = F.col("cancelled_at").isNull() | (F.col("cancelled_at") >= at) if "cancelled_at" in rows.columns else None
    out = rows.where((F.col("at") < at) & (F.col("at") >= at - F.make_dt_interval(F.lit(days))))
    if live is not None:
        out = out.where(live)
    return out.withColumn("w", _decay(at, half_life_days))


def _baskets(rows: DataFrame, basket: str, kinds: tuple[str, ...], limit: int) -> DataFrame:
    """``basket, product_id, w``: each basket's first ``limit`` products, w = decay of its last time there."""
    per = (
        rows.where(F.col("kind").isin(*kinds) & F.col(basket).isNotNull())
        .groupBy(F.col(basket).alias("basket"), "product_id")
        .agg(F.min("at").alias("_first"), F.max("w").alias("w"))
    )
    first = Window.partitionBy("basket").orderBy("_first", "product_id")
    return per.withColumn("_n", F.row_number().over(first)).where(F.col("_n") <= limit).drop("_n", "_first")


#: Decimal places sums of weights are rounded to. Spark adds a group's doubles in whatever order
#: its partitions arrive, so an unrounded sum can differ in the last bit between two runs of the
#: same data (a re-run after a crash gave scores 1 ulp apart); rounded, re-runs give the same table.
DIGITS = 9


def stable_sum(col: Column) -> Column:
    """``sum(col)`` rounded to :data:`DIGITS` places: the same on every run whatever the order of addition."""
    return F.round(F.sum(col), DIGITS)


def _pairs(baskets: DataFrame) -> DataFrame:
    a = baskets.select("basket", F.col("product_id").alias("product_id"), F.col("w").alias("_wa"))
    b = baskets.select("basket", F.col("product_id").alias("similar_product_id"), F.col("w").alias("_wb"))
    return (
        a.join(b, "basket")
        .where(F.col("product_id") != F.col("similar_product_id"))
        .groupBy("product_id", "similar_product_id")
        .agg(stable_sum(F.least("_wa", "_wb")).alias("together"))
    )


def similar_products(rows: DataFrame, cutoff: datetime, params: Mapping[str, Any]) -> DataFrame:
    """``product_id, similar_product_id, rank, score, co_views, co_purchases`` as of ``cutoff`` (pure)."""
    window = in_window(rows, cutoff, int(params["history_days"]), float(params["half_life_days"]))
    limit = int(params["max_items_per_basket"])
    cv, cp = float(params["co_view_weight"]), float(params["co_purchase_weight"])
    views = _baskets(window, "session_id", VIEW_KINDS, limit)
    buys = _baskets(window, "user_id", (PURCHASE,), limit).where(F.lit(cp > 0))
    norm = (
        views.select("product_id", (F.col("w") * cv).alias("w"))
        .unionByName(buys.select("product_id", (F.col("w") * cp).alias("w")))
        .groupBy("product_id")
        .agg(stable_sum(F.col("w")).alias("_n"))
    )
    pairs = (
        _pairs(views)
        .withColumnRenamed("together", "co_views")
        .join(_pairs(buys).withColumnRenamed("together", "co_purchases"), ["product_id", "similar_product_id"], "full")
        .fillna(0.0, ["co_views", "co_purchases"])
        .where((F.col("co_views") + F.col("co_purchases")) > float(params["min_co_occurrence"]))
    )
    scored = (
        pairs.join(norm, "product_id")
        .join(
            norm.select(F.col("product_id").alias("similar_product_id"), F.col("_n").alias("_m")), "similar_product_id"
        )
        .withColumn(
            "score",
            F.round((cv * F.col("co_views") + cp * F.col("co_purchases")) / F.sqrt(F.col("_n") * F.col("_m")), DIGITS),
        )
    )
    ranked = scored.withColumn(
        "rank",
        F.row_number().over(
            Window.partitionBy("product_id").orderBy(F.col("score").desc(), F.col("similar_product_id"))
        ),
    )
    return ranked.where(F.col("rank") <= int(params["top_similar"])).drop("_n", "_m")


def _kind_weight(params: Mapping[str, Any]) -> Column:
    weights = dict(params["interaction_weights"])
    out: Any = F
    for kind, weight in weights.items():
        out = out.when(F.col("kind") == kind, F.lit(float(weight)))
    return out.otherwise(F.lit(0.0))


def popularity(rows: DataFrame, cutoff: datetime, params: Mapping[str, Any]) -> DataFrame:
    """``product_id, top_category, popularity``: decayed interaction weights of the last popularity_days."""
    window = in_window(rows, cutoff, int(params["popularity_days"]), float(params["half_life_days"]))
    return window.groupBy("product_id").agg(
        stable_sum(F.col("w") * _kind_weight(params)).alias("popularity"), F.max("top_category").alias("top_category")
    )


def recommend(
    rows: DataFrame,
    similar: DataFrame,
    users: DataFrame,
    cutoff: datetime,
    params: Mapping[str, Any],
) -> DataFrame:
    """``user_id, rank, product_id, score, source`` for every user of ``users`` (pure).

    ``rows``: :func:`interactions`; ``similar``: :func:`similar_products` of the same cut-off.
    Each candidate's score is the ``blend``-weighted sum of three estimates of how likely the
    customer is to want it, each in [0, 1]; ``source`` names the largest term:

    * ``similar``: (self_weight × h(c) + Σ_p h(p) × similarity(p, c)) / Σ_p h(p) over the
      customer's history products p (h: decayed interaction weights);
    * ``category_popular``: the customer's share of history weight in c's category × c's share of
      its category's popularity (their top ``favourite_categories`` categories only);
    * ``global_popular``: c's share of all popularity.

    Products bought in the window are never recommended.
    """
    n = int(params["top_n"])
    blend = {k: float(v) for k, v in dict(params["blend"]).items()}
    window = in_window(rows, cutoff, int(params["history_days"]), float(params["half_life_days"]))
    everyone_ = users.select("user_id").distinct()
    mine = window.where(F.col("user_id").isNotNull()).join(everyone_, "user_id", "left_semi")
    history = mine.groupBy("user_id", "product_id").agg(
        stable_sum(F.col("w") * _kind_weight(params)).alias("h"),
        F.max("top_category").alias("top_category"),
        F.bool_or(F.col("kind") == PURCHASE).alias("_bought"),
    )
    bought = history.where("_bought").select("user_id", "product_id")
    totals = history.groupBy("user_id").agg(stable_sum(F.col("h")).alias("_H")).where(F.col("_H") > 0)
    by_similarity = history.join(
        similar.select("product_id", "similar_product_id", F.col("score").alias("_s")), "product_id"
    ).select("user_id", F.col("similar_product_id").alias("product_id"), (F.col("h") * F.col("_s")).alias("s"))
    itself = history.where(~F.col("_bought")).select(
        "user_id", "product_id", (F.col("h") * float(params["self_weight"])).alias("s")
    )
    personal = (
        by_similarity.unionByName(itself)
        .groupBy("user_id", "product_id")
        .agg(stable_sum(F.col("s")).alias("s"))
        .join(totals, "user_id")
        .select("user_id", "product_id", (F.col("s") / F.col("_H")).alias("s"), F.lit("similar").alias("source"))
    )

    pool = int(params["fallback_pool"])
    popular = popularity(rows, cutoff, params).where(F.col("popularity") > 0)
    in_category = Window.partitionBy("top_category")
    by_category = (
        popular.withColumn("_p", F.col("popularity") / F.sum("popularity").over(in_category))
        .withColumn("_r", F.row_number().over(in_category.orderBy(F.col("popularity").desc(), "product_id")))
        .where(F.col("_r") <= pool)
    )
    favourites = (
        history.where(F.col("top_category").isNotNull())
        .groupBy("user_id", "top_category")
        .agg(stable_sum(F.col("h")).alias("_c"))
        .join(totals, "user_id")
        .withColumn(
            "_fr",
            F.row_number().over(Window.partitionBy("user_id").orderBy(F.col("_c").desc(), F.col("top_category"))),
        )
        .where(F.col("_fr") <= int(params["favourite_categories"]))
    )
    category = favourites.join(by_category, "top_category").select(
        "user_id",
        "product_id",
        (F.col("_c") / F.col("_H") * F.col("_p")).alias("s"),
        F.lit("category_popular").alias("source"),
    )
    total = popular.agg(F.sum("popularity").alias("_t"))
    global_top = (
        popular.orderBy(F.col("popularity").desc(), "product_id")
        .limit(pool)
        .crossJoin(total)
        .select("product_id", (F.col("popularity") / F.col("_t")).alias("s"), F.lit("global_popular").alias("source"))
    )
    overall = everyone_.crossJoin(F.broadcast(global_top))

    weight: Any = F
    for source, value in blend.items():
        weight = weight.when(F.col("source") == source, F.lit(value))
    terms = (
        personal.unionByName(category)
        .unionByName(overall)
        .withColumn("s", F.col("s") * weight.otherwise(F.lit(0.0)))
        .where(F.col("s") > 0)
        .join(bought, ["user_id", "product_id"], "left_anti")
    )
    # A candidate's score sums its terms; its source is the largest term (ties: the listed order).
    order = F.when(F.col("source") == "similar", 0).when(F.col("source") == "category_popular", 1).otherwise(2)
    scored = terms.groupBy("user_id", "product_id").agg(
        F.round(F.sum("s"), DIGITS).alias("score"),
        F.max_by("source", F.struct(F.col("s"), -order)).alias("source"),
    )
    ranked = scored.withColumn(
        "rank",
        F.row_number().over(Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("product_id"))),
    )
    return ranked.where(F.col("rank") <= n).select("user_id", "rank", "product_id", "score", "source")


def global_popular(rows: DataFrame, users: DataFrame, cutoff: datetime, params: Mapping[str, Any]) -> DataFrame:
    """The popularity baseline: each user's top ``top_n`` popular products they have not bought (pure)."""
    window = in_window(rows, cutoff, int(params["history_days"]), float(params["half_life_days"]))
    bought = window.where(F.col("kind") == PURCHASE).select("user_id", "product_id").distinct()
    top = (
        popularity(rows, cutoff, params)
        .orderBy(F.col("popularity").desc(), "product_id")
        .limit(int(params["fallback_pool"]))
    )
    cand = (
        users.select("user_id")
        .distinct()
        .crossJoin(F.broadcast(top.select("product_id", F.col("popularity").alias("score"))))
        .join(bought, ["user_id", "product_id"], "left_anti")
    )
    ranked = cand.withColumn(
        "rank", F.row_number().over(Window.partitionBy("user_id").orderBy(F.col("score").desc(), "product_id"))
    )
    return (
        ranked.where(F.col("rank") <= int(params["top_n"]))
        .withColumn("source", F.lit("global_popular"))
        .select("user_id", "rank", "product_id", "score", "source")
    )


# ---------------------------------------------------------------------------------------------
# I/O


def read_interactions(
    spark: SparkSession, settings: Settings, first: date, last: date, by_device: bool = False
) -> DataFrame:
    """:func:`interactions` from silver rows of the dates ``first``..``last`` (inclusive)."""
    for name in ("silver.events", "silver.sessions", "silver.orders", "silver.order_items"):
        ensure_table(spark, name, settings)
    between = F.col("event_date").between(F.lit(first), F.lit(last))
    events = read_table(spark, "silver.events", settings).where(between)
    sessions = read_table(spark, "silver.sessions", settings).where(
        F.col("session_date").between(F.lit(first - timedelta(days=1)), F.lit(last))
    )
    orders = read_table(spark, "silver.orders", settings).where(F.col("order_date").between(F.lit(first), F.lit(last)))
    items = read_table(spark, "silver.order_items", settings).where(
        F.col("order_date").between(F.lit(first), F.lit(last))
    )
    return interactions(events, sessions, orders, items, by_device)


def build(spark: SparkSession, settings: Settings, as_of: date) -> tuple[DataFrame, DataFrame]:
    """(gold.similar_products, gold.user_recommendations) rows of ``as_of`` from silver."""
    params = settings["gold"]["recommendations"]
    days = max(int(params["history_days"]), int(params["popularity_days"]))
    rows = read_interactions(spark, settings, as_of - timedelta(days=days + 1), as_of - timedelta(days=1))
    rows = rows.cache()
    cutoff = datetime.combine(as_of, time.min)
    similar = similar_products(rows, cutoff, params).cache()
    users = in_window(rows, cutoff, int(params["history_days"]), float(params["half_life_days"])).where(
        F.col("user_id").isNotNull()
    )
    recs = recommend(rows, similar, users.select("user_id").distinct(), cutoff, params)
    stamp = F.lit(as_of).cast("date")
    return (
        conform(similar.withColumn("as_of_date", stamp), SIMILAR),
        conform(recs.withColumn("as_of_date", stamp), RECOMMENDATIONS),
    )


INPUTS = ("silver.events", "silver.sessions", "silver.orders", "silver.order_items")


def run_recommendations(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Write both tables for ``as_of_date = run_date + 1`` (data of days <= run_date), one transaction
    each, when silver changed or the run date moved on since the last run.

    Recommendations are served snapshots: each as-of date holds what the data known at its run
    gave, and later data never rewrites an earlier snapshot (a rebuild makes the latest one).
    ``since`` is accepted for a uniform job signature.
    """
    del since
    as_of = run_date + timedelta(days=1)
    for name in (*INPUTS, SIMILAR, RECOMMENDATIONS):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_recommendations", run_date, INPUTS, run_id=run_id)
    if not plan.has_news() and plan.last_run_date == run_date:
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    similar, recs = build(spark, settings, as_of)
    replace_dates(similar, SIMILAR, as_of, as_of, settings)
    replace_dates(recs, RECOMMENDATIONS, as_of, as_of, settings)
    written = {
        name: read_table(spark, name, settings).where(F.col("as_of_date") == F.lit(as_of)).count()
        for name in (SIMILAR, RECOMMENDATIONS)
    }
    manifest.record(spark, settings, plan, {SIMILAR: {as_of}, RECOMMENDATIONS: {as_of}}, rows=written)
    return {"run_date": str(run_date), "dates": str(as_of), "rows": written}


def recommendations_as_of(spark: SparkSession, settings: Settings, at: datetime | date) -> DataFrame:
    """The recommendations an application could have served at ``at``: the newest as_of_date <= at.

    Point in time like :func:`jobs.features.retrieval.get_training_frame`: a row of as_of_date A is
    valid from A 00:00 UTC and built from data before it.
    """
    ensure_table(spark, RECOMMENDATIONS, settings)
    day = at.date() if isinstance(at, datetime) else at
    table = read_table(spark, RECOMMENDATIONS, settings).where(F.col("as_of_date") <= F.lit(day))
    newest = table.agg(F.max("as_of_date")).first()
    if newest is None or newest[0] is None:
        return table.limit(0)
    return table.where(F.col("as_of_date") == F.lit(newest[0]))
