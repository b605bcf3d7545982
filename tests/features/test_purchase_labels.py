"""Labels of the purchase-propensity example: a purchase in [as_of, as_of + horizon), complete windows only."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.ml.purchase import label_entities


def test_labels_look_ahead_within_complete_windows(spark: SparkSession) -> None:
    features = spark.createDataFrame(
        [("u", date(2026, 11, 10)), ("u", date(2026, 11, 11)), ("u", date(2026, 11, 12)), ("v", date(2026, 11, 10))],
        "user_id string, as_of_date date",
    )
    orders = spark.createDataFrame(
        [
            ("u", datetime(2026, 11, 11, 5, 0)),  # in u's window of Nov 11, not of Nov 10
            ("u", datetime(2026, 11, 11, 6, 0)),  # a second order: still one label
            ("v", datetime(2026, 11, 10, 23, 59)),
            (None, datetime(2026, 11, 10, 12, 0)),
        ],
        "user_id string, created_at timestamp",
    )
    expected = spark.createDataFrame(
        [
            ("u", datetime(2026, 11, 10), 0),
            ("u", datetime(2026, 11, 11), 1),
            ("v", datetime(2026, 11, 10), 1),
        ],
        "user_id string, event_timestamp timestamp, label int",
    )
    assertDataFrameEqual(label_entities(features, orders, 1), expected, checkRowOrder=False)
