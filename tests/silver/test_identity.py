import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import table
from jobs.silver.identity import identity_pairs, merge_identity, stitch

UTC = dt.UTC


def ts(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=UTC)


def events(spark: SparkSession, *rows: tuple[str | None, str | None, bool, dt.datetime]) -> DataFrame:
    """Conformed events, only the columns identity reads (ids are pseudonyms already)."""
    return spark.createDataFrame(
        list(rows), "anonymous_id string, user_id string, consent_analytics boolean, event_time timestamp"
    )


def identity(spark: SparkSession, *rows: tuple[str, str, dt.datetime, dt.datetime]) -> DataFrame:
    return spark.createDataFrame(list(rows), table("silver.identity_map").spark_schema)


# Ani uses a phone and a laptop; the laptop is shared with Budi, who used it last.
DAY_1 = [
    ("phone", "ani", True, ts(10, 8)),
    ("phone", "ani", True, ts(10, 9)),
    ("laptop", "ani", True, ts(10, 12)),
    ("laptop", None, True, ts(10, 13)),  # logged out
    ("laptop", "budi", False, ts(10, 14)),  # no consent: not used
]
DAY_2 = [
    ("phone", "ani", True, ts(11, 7)),
    ("laptop", "budi", True, ts(11, 20)),
    ("tablet", "citra", False, ts(11, 21)),
]


def test_pairs_are_consenting_events_with_both_ids(spark: SparkSession) -> None:
    assertDataFrameEqual(
        identity_pairs(events(spark, *DAY_1)),
        identity(spark, ("phone", "ani", ts(10, 8), ts(10, 9)), ("laptop", "ani", ts(10, 12), ts(10, 12))),
    )


def test_daily_merges_widen_pairs_and_replays_change_nothing(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "identity_map")
    merge_identity(spark, identity_pairs(events(spark, *DAY_2)), path)  # days out of order on purpose
    merge_identity(spark, identity_pairs(events(spark, *DAY_1)), path)
    expected = identity(
        spark,
        ("phone", "ani", ts(10, 8), ts(11, 7)),
        ("laptop", "ani", ts(10, 12), ts(10, 12)),
        ("laptop", "budi", ts(11, 20), ts(11, 20)),
    )
    assertDataFrameEqual(spark.read.format("delta").load(path), expected)
    for day in (DAY_1, DAY_2):
        merge_identity(spark, identity_pairs(events(spark, *day)), path)
    assertDataFrameEqual(spark.read.format("delta").load(path), expected)
    # N daily runs equal one rebuild from all days.
    assertDataFrameEqual(identity_pairs(events(spark, *DAY_1, *DAY_2)), expected)


def test_stitch_picks_the_most_recently_seen_user(spark: SparkSession) -> None:
    pairs = identity(
        spark,
        ("phone", "ani", ts(10, 8), ts(11, 7)),
        ("laptop", "ani", ts(10, 12), ts(10, 12)),
        ("laptop", "budi", ts(11, 20), ts(11, 20)),
        # Same last_seen: the user seen on the device first wins, so the choice never flips.
        ("kiosk", "dewi", ts(9, 1), ts(12, 0)),
        ("kiosk", "eko", ts(10, 1), ts(12, 0)),
    )
    assertDataFrameEqual(
        stitch(pairs),
        spark.createDataFrame(
            [("phone", "ani", 1), ("laptop", "budi", 2), ("kiosk", "dewi", 2)],
            "anonymous_id string, user_id string, users_on_device int",
        ),
    )
