"""silver.events carries each human event's session; silver.sessions agrees with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.tables import read_table
from tests.conftest import sim_settings


@pytest.mark.integration
def test_every_human_event_has_the_session_that_counts_it(spark: SparkSession, sim_home: Path) -> None:
    conf = sim_settings(sim_home)
    events = read_table(spark, "silver.events", conf)
    sessions = read_table(spark, "silver.sessions", conf)

    assert events.where(F.col("is_bot") & F.col("session_id").isNotNull()).count() == 0
    assert events.where(~F.col("is_bot") & F.col("session_id").isNull()).count() == 0
    from_events = (
        events.where(~F.col("is_bot"))
        .groupBy("session_id")
        .agg(
            F.count("*").alias("events"),
            F.min("event_time").alias("session_start"),
            F.max("event_time").alias("session_end"),
            F.count(F.when(F.col("event_type") == "product_view", 1)).alias("product_views"),
        )
    )
    # Sessions whose events all lie in the data set's days (none cut by its first or last edge).
    inside = sessions.join(
        events.groupBy("session_id").agg(F.min("event_date").alias("first"), F.max("event_date").alias("last")),
        "session_id",
    )
    bounds = events.agg(F.min("event_date"), F.max("event_date")).first()
    inside = inside.where((F.col("first") > F.lit(bounds[0])) & (F.col("last") < F.lit(bounds[1])))
    expected = inside.select("session_id", "events", "session_start", "session_end", "product_views")
    assertDataFrameEqual(from_events.join(expected.select("session_id"), "session_id"), expected)
    assert expected.count() > 100
