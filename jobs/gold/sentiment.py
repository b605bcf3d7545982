"""gold.product_sentiment_daily: per product and date, how reviews rate it and what the negative ones say.

``score(reviews, scorer, threshold)`` runs the sentiment model where the data is: the scorer (the
fitted scikit-learn pipeline of :mod:`jobs.ml.sentiment`, about a megabyte) is broadcast once and
each executor scores its partitions with ``mapInPandas``, so no review text travels to the driver.
Each review comes back with its probability of Negative, its predicted class and, for its nameable
word n-grams, their contribution to the Negative class.

``transform(scored, params, model_run)`` aggregates per date and product: reviews, mean rating,
positive and negative counts and shares, and the ``top_terms`` word n-grams with the largest
summed contribution over the negative reviews (ties by the term). Which terms may be named at all is
the scorer's rule: only those held by ``min_term_reviewers`` distinct training reviewers.

``run_product_sentiment(spark, run_date, settings, dates=None, since=None)`` rewrites the given
dates (default: the dates the daily silver job rewrites for ``run_date``) from silver.reviews, in
one Delta transaction; without reviews on those dates it writes them empty and loads no model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd
from pyspark import cloudpickle
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.dates import day_range, describe, in_dates
from jobs.common.tables import conform, ensure_table, read_table, replace_partitions

TABLE = "gold.product_sentiment_daily"
INPUT = "silver.reviews"
#: What mapInPandas returns per review.
SCORED_SCHEMA = (
    "review_id string, date date, product_id string, rating int, p_negative double, negative boolean, "
    "terms array<struct<term:string,weight:double>>"
)


def score(reviews: DataFrame, scorer: Any, threshold: float) -> DataFrame:
    """Score ``reviews`` (``review_id``, ``event_date``, ``product_id``, ``rating``, ``review_text``) on the
    executors: ``SCORED_SCHEMA`` rows. ``scorer`` has ``score(texts) -> (p_negative, terms)``."""
    # Pickled by value (cloudpickle), so a scorer whose class the executors cannot import (a test's
    # stand-in) travels too; the pipeline's own classes are scikit-learn's and detak's.
    broadcast = reviews.sparkSession.sparkContext.broadcast(cloudpickle.dumps(scorer))
    cut = float(threshold)

    def batches(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = cloudpickle.loads(broadcast.value)
        for frame in frames:
            p, terms = model.score(frame["review_text"].tolist())
            yield pd.DataFrame(
                {
                    "review_id": frame["review_id"],
                    "date": frame["event_date"],
                    "product_id": frame["product_id"],
                    "rating": frame["rating"],
                    "p_negative": p,
                    "negative": p >= cut,
                    "terms": [[{"term": t, "weight": w} for t, w in row] for row in terms],
                }
            )

    return reviews.select("review_id", "event_date", "product_id", "rating", "review_text").mapInPandas(
        batches, SCORED_SCHEMA
    )


def transform(scored: DataFrame, params: Mapping[str, Any], model_run: str) -> DataFrame:
    """gold.product_sentiment_daily from :func:`score`'s rows (pure). ``params`` is conf ``gold.sentiment``."""
    top = int(params["top_terms"])
    counts = scored.groupBy("date", "product_id").agg(
        F.count(F.lit(1)).alias("reviews"),
        F.avg(F.col("rating").cast("double")).alias("mean_rating"),
        F.count(F.when(F.col("negative"), 1)).alias("negative_reviews"),
    )
    weights = (
        scored.where(F.col("negative"))
        .select("date", "product_id", F.explode("terms").alias("t"))
        .groupBy("date", "product_id", F.col("t.term").alias("term"))
        .agg(F.sum("t.weight").alias("weight"))
        .where(F.col("weight") > 0)
    )
    order = Window.partitionBy("date", "product_id").orderBy(F.col("weight").desc(), F.col("term"))
    terms = (
        weights.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= top)
        .groupBy("date", "product_id")
        .agg(F.sort_array(F.collect_list(F.struct("rank", "term"))).alias("ranked"))
        .select("date", "product_id", F.transform("ranked", lambda x: x["term"]).alias("top_negative_terms"))
    )
    out = counts.join(terms, ["date", "product_id"], "left").withColumns(
        {
            "positive_reviews": F.col("reviews") - F.col("negative_reviews"),
            "positive_share": (F.col("reviews") - F.col("negative_reviews")) / F.col("reviews"),
            "negative_share": F.col("negative_reviews") / F.col("reviews"),
            "top_negative_terms": F.coalesce("top_negative_terms", F.array().cast("array<string>")),
            "model_run": F.lit(model_run),
        }
    )
    return conform(out, TABLE)


def build(reviews: DataFrame, scorer: Any, params: Mapping[str, Any]) -> DataFrame:
    """Score and aggregate silver.reviews rows (pure but for the broadcast of ``scorer``)."""
    return transform(score(reviews, scorer, float(params["negative_threshold"])), params, str(scorer.run))


def run_product_sentiment(
    spark: SparkSession,
    run_date: date,
    settings: Settings,
    since: date | None = None,
    run_id: str | None = None,
    dates: Sequence[date] | None = None,
) -> dict[str, Any]:
    """Rewrite the dates of gold.product_sentiment_daily whose reviews changed since the last run
    (:mod:`jobs.common.manifest`), or exactly ``dates`` when given, from silver.reviews; with ``since``,
    also every date from ``since`` to ``run_date``. Returns the dates and the rows written."""
    from jobs.ml.sentiment import load_scorer

    for name in (INPUT, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_sentiment", run_date, (INPUT,), run_id=run_id)
    wanted = set(dates) if dates is not None else {d for d in plan.dates(INPUT) if d <= run_date}
    if since is not None:
        wanted |= set(day_range(since, run_date))
    if not wanted:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    params = settings["gold"]["sentiment"]
    reviews = plan.read(spark, INPUT, settings).where(in_dates("event_date", wanted))
    if reviews.limit(1).count() == 0:
        out = spark.createDataFrame([], table(TABLE).spark_schema)
    else:
        out = build(reviews, load_scorer(settings), params)
    replace_partitions(out, TABLE, wanted, settings)
    written = read_table(spark, TABLE, settings).where(in_dates("date", wanted)).count()
    manifest.record(spark, settings, plan, {TABLE: wanted}, rows={TABLE: written})
    return {"run_date": str(run_date), "dates": describe(wanted), "rows": {TABLE: written}}
