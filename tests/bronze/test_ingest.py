"""Exactly-once ingestion: re-runs, crash and replay, new files, reconciliation of counts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.ingest import ingest_source
from jobs.common.config import Settings
from jobs.common.tables import read_table
from tests.bronze.test_validate import line
from tests.conftest import ci_settings


def drop(conf: Settings, hour: int, name: str, lines: list[str]) -> Path:
    folder = conf.path("landing") / "search" / "date=2026-11-11" / f"hour={hour:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def hour_lines(hour: int) -> list[str]:
    good = [line(event_id=f"h{hour}-{i}", query=f"sepatu {i}") for i in range(5)]
    return [*good, line(event_id=f"h{hour}-bad", results_count="banyak"), good[0][:30]]


def events(spark: SparkSession, conf: Settings) -> DataFrame:
    return read_table(spark, "bronze.search_events", conf).select("event_id", "query", "_source_file", "_batch_id")


def quarantine(spark: SparkSession, conf: Settings) -> DataFrame:
    return read_table(spark, "bronze.quarantine", conf).select("source", "reason", "event_id", "_source_file")


def test_second_run_adds_nothing_and_new_files_are_picked_up(spark: SparkSession, conf: Settings) -> None:
    for hour in (0, 1):
        drop(conf, hour, "part-0", hour_lines(hour))
    first = ingest_source(spark, "search", conf, run_id="r1")
    assert (first.files, first.lines, first.valid, first.quarantined) == (2, 14, 10, 4)
    assert first.by_reason == {"type_mismatch": 2, "malformed_json": 2}
    before_events, before_quarantine = events(spark, conf).collect(), quarantine(spark, conf).collect()

    again = ingest_source(spark, "search", conf, run_id="r2")
    assert (again.batches, again.lines) == (0, 0)
    assertDataFrameEqual(events(spark, conf), before_events)
    assertDataFrameEqual(quarantine(spark, conf), before_quarantine)

    new_file = drop(conf, 2, "part-0", hour_lines(2))
    third = ingest_source(spark, "search", conf, run_id="r3")
    assert (third.files, third.lines, third.valid, third.quarantined) == (1, 7, 5, 2)
    added = events(spark, conf).where(F.col("_source_file").endswith(str(new_file)))
    assert sorted(r.event_id for r in added.collect()) == [f"h2-{i}" for i in range(5)]
    assert events(spark, conf).count() == 15


def test_crash_between_writes_then_rerun_is_exactly_once(spark: SparkSession, tmp_path: Path) -> None:
    crashed = ci_settings(tmp_path / "crashed", ingest={"max_files_per_trigger": 1})
    clean = ci_settings(tmp_path / "clean", ingest={"max_files_per_trigger": 1})
    for conf in (crashed, clean):
        for hour in (0, 1, 2):
            drop(conf, hour, "part-0", hour_lines(hour))

    with pytest.raises(StreamingQueryException, match="injected failure after the events write of batch 0"):
        ingest_source(spark, "search", crashed, run_id="dies", fail_after="events")
    # The crash left batch 0's events committed and its quarantine rows unwritten.
    assert events(spark, crashed).count() == 5
    assert quarantine(spark, crashed).count() == 0

    report = ingest_source(spark, "search", crashed, run_id="recovers")
    ingest_source(spark, "search", clean, run_id="once")
    assert (report.batches, report.lines, report.valid, report.quarantined) == (3, 21, 15, 6)

    def relative(df: DataFrame, conf: Settings) -> DataFrame:
        # Which file lands in which batch follows file times, so two homes may number batches
        # differently; the rows themselves must be the same.
        root = str(conf.path("landing"))
        return df.withColumn("_source_file", F.substring_index("_source_file", root, -1)).drop("_batch_id")

    assertDataFrameEqual(relative(events(spark, crashed), crashed), relative(events(spark, clean), clean))
    assertDataFrameEqual(relative(quarantine(spark, crashed), crashed), relative(quarantine(spark, clean), clean))
    runs = read_table(spark, "bronze.ingest_runs", crashed).select("batch_id", "run_id", "lines", "valid")
    assertDataFrameEqual(
        runs,
        spark.createDataFrame(
            [(0, "recovers", 7, 5), (1, "recovers", 7, 5), (2, "recovers", 7, 5)],
            "batch_id long, run_id string, lines long, valid long",
        ),
    )


def test_unknown_source_is_a_clear_error(spark: SparkSession, conf: Settings) -> None:
    with pytest.raises(ValueError, match="unknown source 'tiktok'"):
        ingest_source(spark, "tiktok", conf)


def test_lines_are_kept_verbatim_in_quarantine(spark: SparkSession, conf: Settings) -> None:
    bad = json.dumps({"event_id": "x", "event_type": "search", "query": "ü" * 300})
    drop(conf, 0, "odd", [bad])
    report = ingest_source(spark, "search", conf, run_id="r")
    assert report.by_reason == {"missing_required": 1}
    row = read_table(spark, "bronze.quarantine", conf).select("raw_line", "line_bytes", "event_id").first()
    assert (row.raw_line, row.line_bytes, row.event_id) == (bad, len(bad.encode()), "x")


def test_a_truncated_gzip_among_good_files_is_quarantined_and_the_rest_ingested(
    spark: SparkSession, conf: Settings
) -> None:
    from jobs.cli import main

    drop(conf, 0, "part-0", hour_lines(0))
    poisoned = drop(conf, 1, "part-0", hour_lines(1))
    poisoned.write_bytes(poisoned.read_bytes()[:-15])  # the collector died mid-upload
    drop(conf, 2, "part-0", hour_lines(2))
    env = {"DETAK_HOME": str(conf.home), "DETAK_ENV": "ci"}
    import os

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from jobs.common import config

        config.settings.cache_clear()
        assert main(["ingest", "--source", "search", "--run-id", "poisoned"]) == 0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.settings.cache_clear()
    assert sorted(r.event_id for r in events(spark, conf).collect()) == sorted(
        [f"h{h}-{i}" for h in (0, 2) for i in range(5)]
    )
    bad = read_table(spark, "bronze.quarantine_files", conf).select("path", "reason").collect()
    assert [(r.path.endswith(str(poisoned)), r.reason) for r in bad] == [(True, "truncated_gzip")]
    # A later run does not trip over the same file again.
    drop(conf, 3, "part-0", hour_lines(3))
    again = ingest_source(spark, "search", conf, run_id="after")
    assert (again.files, again.valid, again.files_quarantined) == (1, 5, 0)


def test_a_reset_checkpoint_ingests_new_files_and_skips_the_old(spark: SparkSession, conf: Settings) -> None:
    import shutil

    for hour in (0, 1):
        drop(conf, hour, "part-0", hour_lines(hour))
    ingest_source(spark, "search", conf, run_id="r1")
    shutil.rmtree(conf.path("checkpoints") / "bronze" / "search")  # lost or reset
    drop(conf, 2, "part-0", hour_lines(2))
    report = ingest_source(spark, "search", conf, run_id="r2")
    # Batch ids restart at 0 in the new checkpoint, but its writes are not mistaken for old ones:
    # the new file's rows land, the old files are not ingested twice.
    assert (report.files, report.files_skipped, report.valid) == (3, 2, 5)
    assert sorted(r.event_id for r in events(spark, conf).collect()) == sorted(
        [f"h{h}-{i}" for h in (0, 1, 2) for i in range(5)]
    )
