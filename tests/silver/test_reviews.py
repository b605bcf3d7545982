"""silver.reviews: the first received copy of each review, pseudonymised as silver.events is, late ones left out."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import table
from jobs.silver.reviews import transform
from tests.conftest import ci_settings
from tests.silver.test_events import bronze

KEY = b"test-key"
T = dt.datetime(2026, 11, 10, 20, 0)  # 03:00 the next day in Jakarta (UTC+7)


def pseudonym(raw: str) -> str:
    return hmac.new(KEY, raw.encode(), hashlib.sha256).hexdigest()


def review(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "review_submitted",
        "event_time": T,
        "sent_at": T,
        "received_at": T,
        "user_id": "U1",
        "page_type": "account",
        "product_id": "P1",
        "order_id": "O1",
        "rating": 2,
        "review_text": "barang rusak, hubungi 0812",
        "language": "id",
        **fields,
    }


def test_reviews_are_deduplicated_pseudonymised_and_timed(spark: SparkSession, tmp_path: Any) -> None:
    params = ci_settings(tmp_path)["silver"]
    ingested = dt.datetime(2026, 11, 10, 21, 0)
    rows = [
        review("r1", received_at=T + dt.timedelta(seconds=5), _ingested_at=ingested),
        # A resend of r1 received later, with (impossibly) other text: the first received copy wins.
        review("r1", received_at=T + dt.timedelta(minutes=9), review_text="resent", _ingested_at=ingested),
        # No analytics consent: no account pseudonym; a device in Papua (UTC+9).
        review(
            "r2",
            consent_analytics=False,
            anonymous_id="dev-2",
            timezone="Asia/Jayapura",
            rating=5,
            review_text="mantap",
            order_id=None,
        ),
        # Sent by the device four days after it happened: more than silver.late_days (3) late, left out.
        review("r3", sent_at=T + dt.timedelta(days=4), received_at=T + dt.timedelta(days=4, seconds=1)),
        {"event_id": "p1", "event_type": "page_view"},  # not a review
    ]
    out = transform(bronze(spark, "clickstream", rows), KEY, params)
    day, next_day = dt.date(2026, 11, 10), dt.date(2026, 11, 11)
    expected = spark.createDataFrame(
        [
            (
                "r1",
                day,
                T + dt.timedelta(seconds=5),  # corrected: received_at - (sent_at - device time)
                "Asia/Jakarta",
                next_day,
                pseudonym("dev-1"),
                pseudonym("U1"),
                True,
                "P1",
                "O1",
                2,
                "barang rusak, hubungi 0812",
                "id",
                ingested,
            ),
            (
                "r2",
                day,
                T,
                "Asia/Jayapura",
                next_day,
                pseudonym("dev-2"),
                None,
                False,
                "P1",
                None,
                5,
                "mantap",
                "id",
                dt.datetime(2026, 11, 10, 17, 0),
            ),
        ],
        table("silver.reviews").spark_schema,
    )
    assertDataFrameEqual(out, expected)
    assert [(f.name, f.dataType) for f in out.schema] == [
        (f.name, f.dataType) for f in table("silver.reviews").spark_schema
    ]
