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

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.tables import conform, ensure_table, read_table, table_path
from jobs.silver.daily import window_for

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


def replace_date_list(df: DataFrame, dates: Sequence[date], settings: Settings) -> None:
    """Atomically replace exactly ``dates`` of the table (one Delta transaction, ``date IN (...)``)."""
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(set(dates)))
    (
        conform(df, TABLE)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"date IN ({listed})")
        .save(table_path(TABLE, settings))
    )


def run_product_sentiment(
    spark: SparkSession,
    run_date: date,
    settings: Settings,
    dates: Sequence[date] | None = None,
    since: date | None = None,
) -> dict[str, Any]:
    """Rewrite ``dates`` of gold.product_sentiment_daily (default: silver's window for ``run_date``, since
    ``since``) from silver.reviews; returns the dates and the rows written."""
    from jobs.ml.sentiment import load_scorer

    if dates is None:
        dates = window_for(run_date, settings["silver"], since).days()
    dates = sorted(set(dates))
    if not dates:
        raise ValueError("run_product_sentiment needs at least one date")
    params = settings["gold"]["sentiment"]
    for name in (INPUT, TABLE):
        ensure_table(spark, name, settings)
    reviews = read_table(spark, INPUT, settings).where(F.col("event_date").isin(*dates))
    if reviews.limit(1).count() == 0:
        out = spark.createDataFrame([], table(TABLE).spark_schema)
    else:
        out = build(reviews, load_scorer(settings), params)
    replace_date_list(out, dates, settings)
    written = read_table(spark, TABLE, settings).where(F.col("date").isin(*dates)).count()
    return {
        "run_date": str(run_date),
        "window": [str(dates[0]), str(dates[-1])],
        "rows": {TABLE: written},
    }
