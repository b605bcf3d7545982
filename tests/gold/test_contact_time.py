"""Contact time: personal hour and day, segment and global fallbacks, and the backtest (hand-made rows)."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.gold.contact_time import backtest, session_counts, transform

A = date(2026, 11, 16)
PARAMS = {"purchase_weight": 3.0, "session_weight": 1.0, "smooth_hours": 1, "min_evidence": 2.0, "prior_strength": 0.0}


def hours(**at: int) -> list[int]:
    out = [0] * 24
    for h, n in at.items():
        out[int(h[1:])] = n
    return out


def test_personal_hour_and_day_with_segment_and_global_fallbacks(spark: SparkSession) -> None:
    segments = spark.createDataFrame(
        [("u1", A, "loyal"), ("u2", A, "loyal"), ("u3", A, "new"), ("u4", A, "new"), ("u5", A, "lost")],
        "user_id string, as_of_date date, segment string",
    )
    profile = spark.createDataFrame(
        [
            # u1: two purchases at 20:xx local on Fridays; u4: one at 03:xx on a Sunday.
            ("u1", A, 2, hours(h20=2), [0, 0, 0, 0, 2, 0, 0]),
            ("u4", A, 1, hours(h3=1), [0, 0, 0, 0, 0, 0, 1]),
        ],
        "user_id string, as_of_date date, purchases long, purchases_by_hour array<long>, "
        "purchases_by_day_of_week array<long>",
    )
    sessions = spark.createDataFrame(
        [
            # u1: Monday 9 Nov 09:15 WIB (02:15 UTC); u2: Tuesday 10 Nov 10:00 local.
            ("u1", datetime(2026, 11, 9, 2, 15), datetime(2026, 11, 9, 9, 15), True),
            ("u2", datetime(2026, 11, 10, 3, 0), datetime(2026, 11, 10, 10, 0), True),
            # Left out: no consent; on the as-of date itself; older than 28 days; no account.
            ("u2", datetime(2026, 11, 11, 3, 0), datetime(2026, 11, 11, 10, 0), False),
            ("u2", datetime(2026, 11, 16, 3, 0), datetime(2026, 11, 16, 10, 0), True),
            ("u2", datetime(2026, 10, 18, 3, 0), datetime(2026, 10, 18, 10, 0), True),
            (None, datetime(2026, 11, 12, 3, 0), datetime(2026, 11, 12, 10, 0), True),
        ],
        "user_id string, session_start timestamp, local_start timestamp_ntz, consent_analytics boolean",
    )
    counts = session_counts(sessions, spark.createDataFrame([(A,)], "as_of_date date"), 28)
    out = transform(segments, profile, counts, PARAMS).drop("as_of_date")
    # u1: evidence 3 × 2 purchases + 1 session = 7 >= 2: personal. Hour scores 6 at 20h, 1 at 9h;
    # smoothed ±1 h, 19, 20 and 21 h score 6: the tie goes to 20 h (most evidence itself).
    # Share: 6 of 7 within the window. Days: Friday 6, Monday 1: Friday (5).
    # u4: personal, 03 h, Sunday (7); share 3 / 3.
    # u2: evidence 1 < 2: segment loyal = u1 + u2: 6 at 20 h, 1 at 9 h, 1 at 10 h: 20 h; Friday.
    # u3: no evidence: segment new = u4: 03 h, Sunday.
    # u5: no evidence, segment lost has none: global = everyone: 20 h (6 against 3 at 03 h); Friday.
    expected = spark.createDataFrame(
        [
            ("u1", 20, 5, "personal", 7.0, 6 / 7, "loyal"),
            ("u2", 20, 5, "segment", 1.0, None, "loyal"),
            ("u3", 3, 7, "segment", 0.0, None, "new"),
            ("u4", 3, 7, "personal", 3.0, 1.0, "new"),
            ("u5", 20, 5, "global", 0.0, None, "lost"),
        ],
        "user_id string, best_local_hour int, best_day_of_week int, source string, evidence double, "
        "hour_share double, segment string",
    )
    assertDataFrameEqual(out, expected, checkRowOrder=False, atol=1e-9)


def test_backtest_counts_hits_within_two_hours_round_the_clock(spark: SparkSession) -> None:
    contact = spark.createDataFrame(
        [("u1", A, 20, "personal"), ("u2", A, 20, "segment")],
        "user_id string, as_of_date date, best_local_hour int, source string",
    )
    purchases = spark.createDataFrame(
        [("u1", A, 22), ("u1", A, 23), ("u2", A, 1), ("u9", A, 20)],
        "user_id string, as_of_date date, local_hour int",
    )
    got = backtest(contact, purchases, baseline_hour=0, hit_hours=2)
    # Model: 22 h is 2 h from 20 h (hit), 23 h is 3 h (miss), 1 h is 5 h round the clock (miss).
    # Baseline 0 h: 22 h and 23 h are 2 h and 1 h before midnight, 1 h is 1 h after: three hits.
    # u9 has no contact-time row: not scored.
    assert got == {
        "purchases": 3,
        "hits": 1,
        "share": 1 / 3,
        "baseline_hour": 0,
        "baseline_hits": 3,
        "baseline_share": 1.0,
        "by_source": {
            "personal": {"purchases": 2, "hits": 1, "baseline_hits": 2},
            "segment": {"purchases": 1, "hits": 0, "baseline_hits": 1},
        },
    }


def test_personal_evidence_is_shrunk_toward_the_segment(spark: SparkSession) -> None:
    segments = spark.createDataFrame(
        [("u1", A, "loyal"), ("u2", A, "loyal")], "user_id string, as_of_date date, segment string"
    )
    # u1: ten purchases at 20:xx on Fridays; u2: one at 09:xx on a Monday.
    profile = spark.createDataFrame(
        [
            ("u1", A, 10, hours(h20=10), [0, 0, 0, 0, 10, 0, 0]),
            ("u2", A, 1, hours(h9=1), [1, 0, 0, 0, 0, 0, 0]),
        ],
        "user_id string, as_of_date date, purchases long, purchases_by_hour array<long>, "
        "purchases_by_day_of_week array<long>",
    )
    counts = session_counts(
        spark.createDataFrame([], "user_id string, session_start timestamp, local_start timestamp_ntz, "
                                  "consent_analytics boolean"),
        spark.createDataFrame([(A,)], "as_of_date date"),
        28,
    )  # fmt: skip
    keep = ["user_id", "best_local_hour", "best_day_of_week", "source", "hour_share"]

    def run(prior: float) -> list[tuple]:
        out = transform(segments, profile, counts, {**PARAMS, "prior_strength": prior})
        return sorted(tuple(r) for r in out.select(keep).collect())

    # Without a prior u2's single purchase decides: 09 h, Monday.
    assert run(0.0) == [("u1", 20, 5, "personal", 1.0), ("u2", 9, 1, "personal", 1.0)]
    # Segment loyal: 30 of 33 hour evidence at 20 h, 3 at 09 h. With 10 pseudo-observations u2 scores
    # 3 + 10 × 3/33 at 09 h against 10 × 30/33 at 20 h (and the neighbours of 20 h add nothing):
    # 20 h; Friday likewise. hour_share is u2's own evidence near 20 h: none.
    assert run(10.0) == [("u1", 20, 5, "personal", 1.0), ("u2", 20, 5, "personal", 0.0)]
    # With 2 pseudo-observations u2's own purchase still wins: 3.18 at 09 h against 1.82 at 20 h.
    assert run(2.0) == [("u1", 20, 5, "personal", 1.0), ("u2", 9, 1, "personal", 1.0)]
