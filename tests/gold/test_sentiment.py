"""gold.product_sentiment_daily on tiny hand-made reviews: exact frames, computed by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import table
from jobs.common.tables import ensure_table, read_table, replace_dates
from jobs.gold.sentiment import build, run_product_sentiment
from jobs.ml.common import model_dir
from jobs.ml.sentiment import fit, run_name
from tests.conftest import SHARED_DATA, ci_settings

D1, D2, D3 = dt.date(2026, 11, 10), dt.date(2026, 11, 11), dt.date(2026, 11, 12)
PARAMS = {"negative_threshold": 0.5, "top_terms": 2, "min_term_reviewers": 2}


def reviews(spark: SparkSession, rows: list[tuple[str, dt.date, str, int, str]]) -> DataFrame:
    """silver.reviews rows from (review_id, event_date, product_id, rating, review_text)."""
    full = [
        {
            "review_id": rid,
            "event_date": day,
            "event_time": dt.datetime.combine(day, dt.time(12)),
            "timezone": "Asia/Jakarta",
            "local_date": day,
            "anonymous_id": "a" * 64,
            "user_id": None,
            "consent_analytics": True,
            "product_id": pid,
            "order_id": None,
            "rating": rating,
            "review_text": text,
            "language": "id",
            "_ingested_at": dt.datetime(2026, 11, 13),
        }
        for rid, day, pid, rating, text in rows
    ]
    schema = table("silver.reviews").spark_schema
    return spark.createDataFrame([tuple(r[f.name] for f in schema) for r in full], schema)


def expected(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, table("gold.product_sentiment_daily").spark_schema)


def test_counts_shares_and_top_negative_terms(spark: SparkSession) -> None:
    class WordScorer:
        """Each listed word pushes a text towards Negative by its weight; p(Negative) = 0.3 x the sum."""

        def __init__(self) -> None:
            self.run = "word-scorer"
            self.weights = {"rusak": 2.0, "kecewa": 1.5, "jelek": 1.5, "lambat": 1.0}

        def score(self, texts: list[str]) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
            terms = [sorted({(w, self.weights[w]) for w in t.split() if w in self.weights}) for t in texts]
            return np.array([min(0.95, 0.3 * sum(w for _, w in ts)) for ts in terms]), terms

    silver = reviews(
        spark,
        [
            ("r1", D1, "P1", 1, "barang rusak dan kecewa"),  # 3.5 x 0.3: negative
            ("r2", D1, "P1", 3, "pengiriman lambat"),  # 0.3: positive, its term does not count
            ("r3", D1, "P1", 2, "rusak lambat"),  # 0.9: negative
            ("r4", D1, "P2", 5, "mantap bagus"),  # 0: positive
            ("r5", D2, "P1", 2, "kecewa jelek"),  # 0.9: negative; its two terms tie at 1.5
        ],
    )
    out = build(silver, WordScorer(), PARAMS)
    # P1 on D1: rusak 2 + 2 = 4, kecewa 1.5, lambat 1 (r3 only): the top two are rusak, kecewa.
    assertDataFrameEqual(
        out,
        expected(
            spark,
            [
                (D1, "P1", 3, 2.0, 1, 2, 1 / 3, 2 / 3, ["rusak", "kecewa"], "word-scorer"),
                (D1, "P2", 1, 5.0, 1, 0, 1.0, 0.0, [], "word-scorer"),
                (D2, "P1", 1, 2.0, 0, 1, 0.0, 1.0, ["jelek", "kecewa"], "word-scorer"),
            ],
        ),
    )


NEGATIVE_TEXTS = [
    "barang rusak",
    "rusak parah",
    "kecewa barang rusak",
    "rusak dan kecewa",
    "kecewa sekali",
    "jelek rusak",
]
POSITIVE_TEXTS = ["barang bagus", "bagus sekali", "mantap bagus", "puas mantap", "bagus puas", "mantap sekali"]


def test_run_replaces_its_dates_with_model_scores(spark: SparkSession, tmp_path: Path) -> None:
    model = {"test_share": 0.2, "seed": 1, "word_ngrams": [1, 1], "char_ngrams": [2, 3], "min_df": 1, "C": 10.0}
    settings = ci_settings(
        tmp_path / "home",
        gold={"sentiment": {**PARAMS, "model": model, "training_data": str(tmp_path / "absent.csv")}},
    )
    ensure_table(spark, "silver.reviews", settings)
    ensure_table(spark, "gold.product_sentiment_daily", settings)
    # D3 already holds a row from an earlier run; its reviews are gone now, so the run empties it.
    replace_dates(
        expected(spark, [(D3, "P9", 1, 4.0, 1, 0, 1.0, 0.0, [], "old")]),
        "gold.product_sentiment_daily",
        D3,
        D3,
        settings,
    )
    # Nothing to score: the dates are emptied and no model is needed (none is saved, none can be trained).
    run_product_sentiment(spark, D3, settings, dates=[D3])
    assert read_table(spark, "gold.product_sentiment_daily", settings).count() == 0

    train = pd.DataFrame({"text": NEGATIVE_TEXTS + POSITIVE_TEXTS, "label": ["Negative"] * 6 + ["Positive"] * 6})
    folder = model_dir(settings, "sentiment", run_name(model))
    folder.mkdir(parents=True)
    joblib.dump(fit(train, model, 2, run_name(model)), folder / "model.joblib")
    silver = reviews(
        spark,
        [
            ("r1", D1, "P1", 1, "rusak kecewa"),
            ("r2", D1, "P1", 2, "barang rusak parah"),
            ("r3", D1, "P1", 5, "mantap puas"),
            ("r4", D2, "P2", 4, "bagus sekali"),
            ("r5", D3, "P3", 1, "rusak"),  # outside the dates asked for: not read
        ],
    )
    replace_dates(silver, "silver.reviews", D1, D3, settings)
    report = run_product_sentiment(spark, D2, settings, dates=[D2, D1])
    assert report == {"run_date": str(D2), "dates": f"{D1}..{D2}", "rows": {"gold.product_sentiment_daily": 2}}
    gold = read_table(spark, "gold.product_sentiment_daily", settings)
    run = run_name(model)
    assertDataFrameEqual(
        gold.drop("top_negative_terms"),
        expected(
            spark,
            [
                (D1, "P1", 3, 8 / 3, 1, 2, 1 / 3, 2 / 3, [], run),
                (D2, "P2", 1, 4.0, 1, 0, 1.0, 0.0, [], run),
            ],
        ).drop("top_negative_terms"),
    )
    terms = {r["product_id"]: r["top_negative_terms"] for r in gold.collect()}  # bounded: two rows
    # Named terms are words of the product's negative reviews that at least two training texts hold.
    assert terms["P2"] == []
    assert 1 <= len(terms["P1"]) <= 2 and set(terms["P1"]) <= {"rusak", "kecewa", "barang"}
    assert gold.where(F.col("date") == D3).count() == 0


@pytest.mark.integration
def test_simulated_reviews_through_bronze_silver_and_gold(spark: SparkSession, tmp_path: Path) -> None:
    """Simulator → bronze → silver.reviews → gold, checked against the simulator's truth."""
    from jobs.bronze.ingest import ingest_source
    from jobs.silver.daily import run_silver
    from jobs.silver.events import conform
    from jobs.simulate import generate

    csv = SHARED_DATA / "prdect_id" / "PRDECT-ID Dataset.csv"
    if not csv.is_file():
        pytest.skip(f"PRDECT-ID not found at {csv} (public data folder absent)")
    quiet = {"scrapers_per_day": 0, "card_testers_per_day": 0, "credential_stuffers_per_day": 0}
    dense = {"texts": str(csv), "order_share": 1.0, "after_paid_days": [0.25, 1.0]}
    home = tmp_path / "home"
    settings = ci_settings(
        home,
        simulator={"bots": quiet, "reviews": dense},
        gold={"sentiment": {"training_data": str(csv)}},
    )
    generate(home, D1, 3, 150, 11, settings=settings, progress=False, workers=1)
    ingest_source(spark, "clickstream", settings, run_id="test")
    truth = pq.read_table(home / "truth" / "reviews.parquet").to_pandas()
    assert len(truth) >= 10

    run_silver(spark, D3, settings)
    silver = read_table(spark, "silver.reviews", settings)
    rows = silver.select("review_id", "product_id", "rating", "review_text").toPandas()  # bounded: a few dozen
    assert sorted(rows["review_id"]) == sorted(truth["event_id"])
    by_id = truth.set_index("event_id")
    assert all(by_id.loc[r.review_id, "rating"] == r.rating for r in rows.itertuples())
    # silver.events keeps the review events, but not their text, rating or language.
    bronze = read_table(spark, "bronze.clickstream_events", settings)
    no_search = spark.createDataFrame([], table("bronze.search_events").spark_schema)
    events = conform(bronze, no_search, dict(settings["silver"]))
    assert {"review_text", "rating", "language"}.isdisjoint(events.columns)
    assert events.where(F.col("event_type") == "review_submitted").count() == len(truth)

    run_product_sentiment(spark, D3, settings, since=D1)  # trains the configured model first
    gold = read_table(spark, "gold.product_sentiment_daily", settings).toPandas()  # bounded: a few dozen rows
    truth["date"] = truth["event_time_utc"].dt.date
    expected_rows = truth.groupby(["date", "product_id"]).agg(reviews=("rating", "size"), mean=("rating", "mean"))
    got = gold.set_index(["date", "product_id"]).sort_index()
    assert list(got.index) == list(expected_rows.index)
    assert list(got["reviews"]) == list(expected_rows["reviews"])
    assert np.allclose(got["mean_rating"], expected_rows["mean"])
    assert {"review_text"}.isdisjoint(gold.columns)
