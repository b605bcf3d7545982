"""Recommendations: similarity, ranking and fallbacks by hand; recall@10/NDCG@10 by hand; the model
against the popularity baseline on the shared simulated days (same evaluation code, same split)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.gold.recommendations import INTERACTIONS, recommend, similar_products
from jobs.ml.recommend_eval import evaluate_home, ranking_metrics
from tests.conftest import sim_settings

CUTOFF = datetime(2026, 11, 16)
PARAMS = {
    "history_days": 90,
    "half_life_days": 1e12,  # no decay: hand-computable weights
    "co_view_weight": 1.0,
    "co_purchase_weight": 3.0,
    "max_items_per_basket": 50,
    "top_similar": 20,
    "min_co_occurrence": 0.0,
    "top_n": 4,
    "interaction_weights": {"product_view": 1.0, "add_to_cart": 3.0, "purchase": 5.0},
    "self_weight": 1.0,
    "popularity_days": 14,
    "favourite_categories": 1,
    "fallback_pool": 100,
    "blend": {"similar": 1.0, "category_popular": 1.0, "global_popular": 1.0},
}


def test_similarity_ranking_exclusions_and_fallbacks(spark: SparkSession) -> None:
    t = datetime(2026, 11, 15, 12)
    cat = {"A": "x", "B": "x", "C": "y", "D": "y"}

    def view(user: str | None, session: str, product: str) -> tuple:
        return (user, session, product, cat[product], "product_view", t)

    rows = spark.createDataFrame(
        [
            view("u1", "s1", "A"),
            view("u1", "s1", "B"),
            view("u2", "s2", "A"),
            view("u2", "s2", "B"),
            view("u2", "s2", "C"),
            view(None, "s3", "C"),
            view(None, "s3", "D"),
            ("u1", None, "A", "x", "purchase", datetime(2026, 11, 15, 13)),
            # After the cut-off: ignored.
            ("u3", "s9", "D", "y", "product_view", datetime(2026, 11, 16, 1)),
        ],
        INTERACTIONS,
    ).withColumn("cancelled_at", F.lit(None).cast("timestamp"))
    similar = similar_products(rows, CUTOFF, PARAMS)
    # Co-views: A-B in s1 and s2 (2), A-C and B-C in s2, C-D in s3. Weights per product: A is in two
    # sessions and one buyer's basket (1 + 1 + 3 = 5), B in 2, C in 2, D in 1.
    # score = co-views / sqrt(n_a × n_b): A-B 2/√10, A-C 1/√10, B-C 1/2, C-D 1/√2.
    ab, ac, bc, cd = 2 / math.sqrt(10), 1 / math.sqrt(10), 0.5, 1 / math.sqrt(2)
    expected = spark.createDataFrame(
        [
            ("A", "B", 1, ab, 2.0), ("A", "C", 2, ac, 1.0),
            ("B", "A", 1, ab, 2.0), ("B", "C", 2, bc, 1.0),
            ("C", "D", 1, cd, 1.0), ("C", "B", 2, bc, 1.0), ("C", "A", 3, ac, 1.0),
            ("D", "C", 1, cd, 1.0),
        ],
        "product_id string, similar_product_id string, rank int, score double, co_views double",
    )  # fmt: skip
    cols = expected.columns
    assertDataFrameEqual(similar.select(cols), expected, checkRowOrder=False, atol=1e-6)
    assert similar.where("co_purchases != 0").count() == 0

    users = spark.createDataFrame([("u1",), ("u2",), ("u3",)], "user_id string")
    got = recommend(rows, similar, users, CUTOFF, PARAMS)
    # Popularity (14 days): A 1 + 1 + 5 = 7, B 2, C 2, D 1 of 12; category x (A, B) holds 9, y 3.
    # u1: history A (view 1 + purchase 5 = 6), B (view 1), 7 in all; A is bought, never recommended.
    #   similar: B = (6 × AB + itself 1) / 7, C = (6 × AC + 1 × BC) / 7; category x has all of u1's
    #   weight: B + 2/9; global: B, C + 2/12, D + 1/12.
    # u2: A, B, C viewed once each (3 in all): A = (AB + AC + 1) / 3, B = (AB + BC + 1) / 3,
    #   C = (AC + BC + 1) / 3, D = CD / 3; category x holds 2/3 of it: A + 2/3 × 7/9, B + 2/3 × 2/9;
    #   global: A + 7/12, B and C + 2/12, D + 1/12. Each source is the largest of its terms.
    # u3: no history before the cut-off: global popularity only, ties by product id.
    expected = spark.createDataFrame(
        [
            ("u1", 1, "B", (6 * ab + 1) / 7 + 2 / 9 + 2 / 12, "similar"),
            ("u1", 2, "C", (6 * ac + bc) / 7 + 2 / 12, "similar"),
            ("u1", 3, "D", 1 / 12, "global_popular"),
            ("u2", 1, "A", (ab + ac + 1) / 3 + 2 / 3 * 7 / 9 + 7 / 12, "similar"),
            ("u2", 2, "B", (ab + bc + 1) / 3 + 2 / 3 * 2 / 9 + 2 / 12, "similar"),
            ("u2", 3, "C", (ac + bc + 1) / 3 + 2 / 12, "similar"),
            ("u2", 4, "D", cd / 3 + 1 / 12, "similar"),
            ("u3", 1, "A", 7 / 12, "global_popular"), ("u3", 2, "B", 2 / 12, "global_popular"),
            ("u3", 3, "C", 2 / 12, "global_popular"), ("u3", 4, "D", 1 / 12, "global_popular"),
        ],
        "user_id string, rank int, product_id string, score double, source string",
    )  # fmt: skip
    assertDataFrameEqual(got, expected, checkRowOrder=False, atol=1e-6)


def test_recall_and_ndcg_at_10_of_three_customers_by_hand(spark: SparkSession) -> None:
    recs = spark.createDataFrame(
        [
            ("u1", "p1", 1), ("u1", "p2", 2), ("u1", "p3", 3),
            ("u2", "p4", 1), ("u2", "p6", 11),  # rank 11: outside the top 10
            ("u4", "p1", 1),  # no relevant products: not scored
        ],
        "user_id string, product_id string, rank int",
    )  # fmt: skip
    truth = spark.createDataFrame(
        [("u1", "p3"), ("u1", "p9"), ("u2", "p4"), ("u2", "p6"), ("u3", "p7")], "user_id string, product_id string"
    )
    got = ranking_metrics(recs, truth, 10)
    # u1: p3 hit at rank 3 of 2 relevant: recall 1/2, DCG 1/log2(4) = 1/2, ideal 1 + 1/log2(3).
    # u2: p4 at rank 1 of 2 relevant (p6 is 11th): recall 1/2, DCG 1, the same ideal.
    # u3: no recommendation: 0 and 0.
    ideal = 1 + 1 / math.log2(3)
    assert got["users"] == 3
    assert got["hits"] == 2
    assert math.isclose(got["recall"], (0.5 + 0.5 + 0) / 3, rel_tol=1e-12)
    assert math.isclose(got["ndcg"], (0.5 / ideal + 1 / ideal + 0) / 3, rel_tol=1e-12)


def test_model_beats_popularity_on_held_out_simulated_day(spark: SparkSession, sim_home: Path) -> None:
    # The shared home holds Nov 9-12; the last day is held out. Read-only: nothing is written.
    got = evaluate_home(spark, sim_settings(sim_home))
    assert got["cutoff"] == "2026-11-12 00:00:00"
    model, baseline = got["purchase"]["model"], got["purchase"]["baseline"]
    assert model["users"] == baseline["users"] > 0
    assert model["hits"] > baseline["hits"]
    assert model["recall"] >= (1 + got["min_lift"]) * baseline["recall"], got
    assert model["ndcg"] > baseline["ndcg"], got
    # Adds to cart: 35 customers and a handful of hits here, too few for a 30 % margin to mean
    # anything (one hit is 33 %); the model must not lose to popularity. The bench scores the
    # target on three held-out days of 3,000 shoppers (bench/results/customers.md).
    carts, base_carts = got["add_to_cart"]["model"], got["add_to_cart"]["baseline"]
    assert carts["users"] == base_carts["users"] > 0
    assert carts["recall"] >= base_carts["recall"], got
    assert carts["ndcg"] >= base_carts["ndcg"], got
