"""Customer segments: RFM scores and rules, stable cluster ids, migration (tiny hand-made frames)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import load_settings
from jobs.common.contracts import table
from jobs.gold.segments import as_of_dates_for, check_rules, is_as_of_date, migration, rfm, segment_of
from jobs.ml.segments import match_ids

A = date(2026, 11, 16)
RULES = load_settings("ci")["gold"]["segments"]["rules"]


def test_rfm_scores_are_quintiles_with_shared_ties_and_rules_pick_the_first_match(spark: SparkSession) -> None:
    features = spark.createDataFrame(
        [
            ("a", A, 1.0, 3, 90_000),
            ("b", A, 2.0, 0, 0),
            ("c", A, 3.0, 2, 40_000),
            ("d", A, 4.0, 0, 0),
            ("e", A, 5.0, 1, 10_000),
        ],
        "user_id string, as_of_date date, days_since_last_activity double, purchase_days_90d long, revenue_90d long",
    )
    out = rfm(features, 5).withColumn("segment", segment_of(RULES))
    # score = min(5, 1 + floor(5 × percent_rank)); percent_rank = (rank - 1) / (n - 1) = (rank - 1) / 4.
    # Recency ranked from the oldest (e 5 days: rank 1) to the newest (a 1 day: rank 5): e 1, d 2, c 3, b 4, a 5.
    # Frequency ascending: b and d tie at 0 (rank 1, score 1), e 1 (rank 3: 1 + floor(2.5) = 3), c 4, a 5.
    # Monetary: the same order as frequency. Segments by the default rules, first match:
    # a 555 champions; b 411 new (r 4-5, f 1); c 344 loyal (r 3-5, f 3-5); d 211 hibernating
    # (r 2, f < 3); e 133 at_risk (r 1-2, f 3-5).
    expected = spark.createDataFrame(
        [
            ("a", 5, 5, 5, "555", "champions"),
            ("b", 4, 1, 1, "411", "new"),
            ("c", 3, 4, 4, "344", "loyal"),
            ("d", 2, 1, 1, "211", "hibernating"),
            ("e", 1, 3, 3, "133", "at_risk"),
        ],
        "user_id string, r_score int, f_score int, m_score int, rfm_cell string, segment string",
    )
    assertDataFrameEqual(out.select(expected.columns), expected, checkRowOrder=False)


def test_rules_that_leave_a_score_combination_out_are_refused() -> None:
    with pytest.raises(ValueError, match=r"scores \(1, 1, 1\) without a segment"):
        check_rules([r for r in RULES if r["segment"] != "lost"], 5)
    assert check_rules(RULES, 5) == ["champions", "loyal", "new", "potential", "at_risk", "hibernating", "lost"]


def test_contract_accepts_exactly_the_segments_of_the_rules() -> None:
    column = next(c for c in table("gold.customer_segments").columns if c.name == "segment")
    assert sorted(column.accepted_values or []) == sorted(r["segment"] for r in RULES)


def test_clusters_keep_the_id_of_the_nearest_previous_centroid_and_new_ones_get_fresh_ids() -> None:
    previous = np.array([[0.0, 0.0], [10.0, 10.0]])
    current = np.array([[10.2, 9.9], [0.1, 0.0], [50.0, 50.0]])
    ids, next_id, records = match_ids(previous, [3, 7], current, lambda x: x, max_distance=1.0, next_id=8)
    assert ids == [7, 3, 8]
    assert next_id == 9
    assert [r["matched"] for r in records] == [True, True, False]
    assert records[0]["distance"] == pytest.approx(np.hypot(0.2, 0.1))
    # Too far to be the same cluster: a fresh id, never a reused one.
    ids, next_id, _ = match_ids(previous, [3, 7], np.array([[5.0, 5.0]]), lambda x: x, max_distance=1.0, next_id=8)
    assert (ids, next_id) == ([8], 9)
    # The first model: ids from 0.
    assert match_ids(None, [], current, lambda x: x, 1.0, 0)[:2] == ([0, 1, 2], 3)


def test_migration_counts_moves_and_people_entering_and_leaving(spark: SparkSession) -> None:
    cols = "user_id string, as_of_date date, segment string, cluster_id int"
    before = spark.createDataFrame([("a", date(2026, 11, 9), "new", 0), ("b", date(2026, 11, 9), "loyal", 1)], cols)
    now = spark.createDataFrame([("a", A, "loyal", 0), ("c", A, "new", 2)], cols)
    out = migration(now, before, 7).drop("previous_as_of_date", "as_of_date")
    expected = spark.createDataFrame(
        [
            ("segment", "new", "loyal", 1),
            ("segment", "loyal", "(none)", 1),
            ("segment", "(none)", "new", 1),
            ("cluster", "0", "0", 1),
            ("cluster", "1", "(none)", 1),
            ("cluster", "(none)", "2", 1),
        ],
        "kind string, from_value string, to_value string, users long",
    )
    assertDataFrameEqual(out, expected, checkRowOrder=False)


def test_as_of_date_of_a_run_is_the_latest_monday_after_its_data() -> None:
    params = {"as_of_weekday": 1, "cadence_days": 7}
    # The run for Sunday 15 Nov has data up to the 15th: features of Monday the 16th.
    assert as_of_dates_for(date(2026, 11, 15), params) == [date(2026, 11, 16)]
    assert as_of_dates_for(date(2026, 11, 18), params) == [date(2026, 11, 16)]
    on = [d for d in (date(2026, 11, 9) + timedelta(days=i) for i in range(15)) if is_as_of_date(d, params)]
    assert on == [date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)]
    # A two-week cadence on Wednesdays, and every day.
    fortnight = {"as_of_weekday": 3, "cadence_days": 14}
    assert [d for d in (date(2026, 11, 1) + timedelta(days=i) for i in range(30)) if is_as_of_date(d, fortnight)] == [
        date(2026, 11, 4),
        date(2026, 11, 18),
    ]
    assert as_of_dates_for(date(2026, 11, 27), fortnight) == [date(2026, 11, 18)]
    daily = {"as_of_weekday": 1, "cadence_days": 1}
    assert as_of_dates_for(date(2026, 11, 12), daily) == [date(2026, 11, 13)]
    assert is_as_of_date(date(2026, 11, 12), daily)
