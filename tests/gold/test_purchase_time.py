"""Time-of-purchase profile: local time zones, circular preferred hour, shares, gaps, lead time."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from pyspark.sql import Row, SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.gold.purchase_time import as_of_frame, lead_times, transform

ORDERS = (
    "order_id string, user_id string, created_at timestamp, cancelled_at timestamp, paid_at timestamp, "
    "refunded_at timestamp, total long, timezone string"
)
PARAMS = {
    "history_days": 30,
    "calendar": {
        "payday_days": [25, 26, 27, 28, 29, 30, 31, 1],
        "sale_days": [{"date": "2026-11-11", "name": "11.11"}],
        "ramadan": [{"start": "2026-02-18", "end": "2026-03-19"}],
    },
}
AS_OF = date(2026, 11, 12)


def order(oid: str, user: str | None, at: datetime, tz: str = "Asia/Jakarta", cancelled: datetime | None = None):
    return (oid, user, at, cancelled, at, None, 100_000, tz)


def profile(spark: SparkSession, rows: list[tuple], as_of: list[date] | None = None):
    orders = spark.createDataFrame(rows, ORDERS)
    lead = spark.createDataFrame([], "order_id string, lead_time_hours double")
    return transform(orders, lead, as_of_frame(spark, as_of or [AS_OF]), PARAMS)


def test_same_utc_instant_is_a_different_local_hour_and_date_in_wib_and_wit(spark: SparkSession) -> None:
    # 2026-11-10 16:30 UTC is Tuesday 23:30 in Jakarta (UTC+7) and Wednesday 11.11 01:30 in Jayapura (UTC+9).
    at = datetime(2026, 11, 10, 16, 30)
    out = profile(spark, [order("o1", "wib", at, "Asia/Jakarta"), order("o2", "wit", at, "Asia/Jayapura")])
    hours_wib = [0] * 24
    hours_wib[23] = 1
    hours_wit = [0] * 24
    hours_wit[1] = 1
    expected = spark.createDataFrame(
        [
            Row(user_id="wib", purchases_by_hour=hours_wib, purchases_by_day_of_week=[0, 1, 0, 0, 0, 0, 0],
                purchases_night=0, purchases_evening=1, preferred_hour=23.5, sale_day_share=0.0),
            Row(user_id="wit", purchases_by_hour=hours_wit, purchases_by_day_of_week=[0, 0, 1, 0, 0, 0, 0],
                purchases_night=1, purchases_evening=0, preferred_hour=1.5, sale_day_share=1.0),
        ]
    )  # fmt: skip
    cols = expected.columns
    assertDataFrameEqual(out.select(cols), expected.select(cols), checkRowOrder=False, atol=1e-6)


def test_preferred_hour_is_a_circular_mean(spark: SparkSession) -> None:
    # Local (WIB) 23:00 and 01:00: the arithmetic mean is noon, the circular mean midnight. Local
    # 06:00 and 12:00 average to 09:00 either way; 00:00 and 12:00 cancel out: no preferred hour.
    wib = -7  # UTC = local - 7 h
    rows = [
        order("a1", "late", datetime(2026, 11, 10, 23 + wib, 0)),
        order("a2", "late", datetime(2026, 11, 10, 18, 0)),  # 01:00 WIB on Nov 11
        order("b1", "day", datetime(2026, 11, 9, 23, 0)),  # 06:00 WIB Nov 10
        order("b2", "day", datetime(2026, 11, 10, 12 + wib, 0)),
        order("c1", "none", datetime(2026, 11, 10, 17, 0)),  # 00:00 WIB Nov 11
        order("c2", "none", datetime(2026, 11, 11, 5, 0)),  # 12:00 WIB Nov 11
    ]
    out = profile(spark, rows).select("user_id", "preferred_hour", "hour_concentration")
    # Resultant of 23:00 and 01:00: |e^{-iπ/12} + e^{iπ/12}| / 2 = cos(15°).
    expected = spark.createDataFrame(
        [("late", 0.0, math.cos(math.radians(15))), ("day", 9.0, math.cos(math.radians(45))), ("none", None, 0.0)],
        "user_id string, preferred_hour double, hour_concentration double",
    )
    assertDataFrameEqual(out, expected, checkRowOrder=False, atol=1e-6)


def test_point_in_time_state_shares_and_gaps(spark: SparkSession) -> None:
    rows = [
        # Local dates Nov 1 (Sunday, payday), Nov 3 (Tuesday), Nov 8 (Sunday): gaps 2 and 5 days.
        order("p1", "u", datetime(2026, 11, 1, 3, 0)),
        order("p2", "u", datetime(2026, 11, 3, 3, 0)),
        order("p3", "u", datetime(2026, 11, 8, 3, 0)),
        # Cancelled before the as-of instant: not a purchase. Cancelled after it: still one.
        order("p4", "u", datetime(2026, 11, 9, 3, 0), cancelled=datetime(2026, 11, 9, 5, 0)),
        order("p5", "v", datetime(2026, 11, 11, 12, 0), cancelled=datetime(2026, 11, 12, 0, 0)),
        # Created on the as-of date: not yet known. Without a buyer: not in a user table.
        order("p6", "v", datetime(2026, 11, 12, 0, 0)),
        order("p7", None, datetime(2026, 11, 11, 1, 0)),
        # Before the 30-day history window.
        order("p8", "u", datetime(2026, 10, 12, 23, 0)),
    ]
    out = profile(spark, rows).select(
        "user_id",
        "as_of_date",
        "purchases",
        "weekend_share",
        "payday_share",
        "distinct_purchase_days",
        "days_since_last_purchase",
        "mean_days_between_purchases",
        "stddev_days_between_purchases",
    )
    expected = spark.createDataFrame(
        [
            ("u", AS_OF, 3, 2 / 3, 1 / 3, 3, 3 + 21 / 24, 3.5, math.sqrt(4.5)),
            ("v", AS_OF, 1, 0.0, 0.0, 1, 0.5, None, None),
        ],
        "user_id string, as_of_date date, purchases long, weekend_share double, payday_share double, "
        "distinct_purchase_days int, days_since_last_purchase double, mean_days_between_purchases double, "
        "stddev_days_between_purchases double",
    )
    assertDataFrameEqual(out, expected, checkRowOrder=False, atol=1e-9)


def test_several_as_of_dates_see_only_their_past(spark: SparkSession) -> None:
    rows = [order("p1", "u", datetime(2026, 11, 1, 3, 0)), order("p2", "u", datetime(2026, 11, 3, 3, 0))]
    out = profile(spark, rows, [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 4)])
    expected = spark.createDataFrame(
        [("u", date(2026, 11, 2), 1), ("u", date(2026, 11, 4), 2)], "user_id string, as_of_date date, purchases long"
    )
    assertDataFrameEqual(out.select("user_id", "as_of_date", "purchases"), expected, checkRowOrder=False)


def test_lead_time_from_first_view_of_an_ordered_product(spark: SparkSession) -> None:
    orders = spark.createDataFrame(
        [order("o1", "u", datetime(2026, 11, 10, 12, 0)), order("o2", "u", datetime(2026, 11, 11, 12, 0))], ORDERS
    )
    items = spark.createDataFrame([("o1", "p"), ("o1", "q"), ("o2", "r")], "order_id string, product_id string")
    views = spark.createDataFrame(
        [
            ("u", "q", datetime(2026, 11, 9, 12, 0)),  # first view of an ordered product: 24 h before o1
            ("u", "p", datetime(2026, 11, 10, 6, 0)),
            ("u", "p", datetime(2026, 10, 1, 0, 0)),  # older than the 30-day limit
            ("u", "x", datetime(2026, 11, 1, 0, 0)),  # not ordered
            ("w", "p", datetime(2026, 11, 8, 0, 0)),  # another user
            ("u", "r", datetime(2026, 11, 11, 13, 0)),  # after o2: o2 has no lead time
        ],
        "user_id string, product_id string, event_time timestamp",
    )
    out = lead_times(orders, items, views, 30)
    assertDataFrameEqual(out, spark.createDataFrame([("o1", 24.0)], "order_id string, lead_time_hours double"))


@pytest.mark.parametrize("dates", [[date(2026, 11, 12)]])
def test_median_lead_time_in_profile(spark: SparkSession, dates: list[date]) -> None:
    orders = spark.createDataFrame([order(f"o{i}", "u", datetime(2026, 11, 10, i, 0)) for i in range(3)], ORDERS)
    lead = spark.createDataFrame([("o0", 1.0), ("o1", 5.0), ("o2", 30.0)], "order_id string, lead_time_hours double")
    out = transform(orders, lead, as_of_frame(spark, dates), PARAMS).select("user_id", "median_lead_time_hours")
    assertDataFrameEqual(out, spark.createDataFrame([("u", 5.0)], "user_id string, median_lead_time_hours double"))
