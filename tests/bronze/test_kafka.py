"""Kafka as a landing transport, against a real single-node broker (KRaft, Apache Kafka's own jars).

The same landing files are ingested from their folder and, replayed by ``detak produce``, from a
topic: bronze, the quarantine and the counts must be the same. Then the exactly-once promise:
an ingest killed (SIGKILL) while it works through the topic and started again, a batch that dies
between its writes, and a lost checkpoint, each land every record once.
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.ingest import ingest_source, run_report, start_query
from jobs.bronze.kafka import produce
from jobs.common.config import Settings
from jobs.common.kafka_broker import Broker, free_port
from jobs.common.tables import read_table
from jobs.simulate import generate
from tests.conftest import ci_settings, sim_settings

pytestmark = pytest.mark.integration

START, DAYS, USERS, SEED = date(2026, 11, 11), 1, 12, 3
#: Records per micro-batch: several batches per topic.
BATCH = 500
SOURCES = ("clickstream", "search", "orders")
#: Bookkeeping that names where a row came from and when: a file's path and line, or a topic
#: partition's offsets; the rest of a row must not depend on the transport.
WHERE = ("_source_file", "_line", "_ingested_at", "_run_id", "_batch_id", "ingest_date")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    home = tmp_path_factory.mktemp("kafka")
    with Broker(ci_settings(home), home / "broker", port=free_port(), partitions=2) as b:
        yield b


def _kafka_settings(home: Path, broker: Broker, prefix: str, batch: int = BATCH) -> Settings:
    topics = {s: f"{prefix}.{s}" for s in SOURCES}
    kafka = {"bootstrap_servers": broker.bootstrap, "topics": topics, "max_offsets_per_trigger": batch}
    return sim_settings(home, ingest={"kafka": kafka})


def _bad_lines_file(landing: Path) -> None:
    """Lines every transport must quarantine the same way: bad bytes, bad JSON, too long."""
    folder = landing / "clickstream" / f"date={START}" / "hour=23"
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "bad-0.jsonl.gz", "wb") as f:
        f.write(b'{"event_id": "caf\xe9", "event_type": "page_view"}\n')
        f.write(b'{"event_id": "half", "event_ty\n')
        f.write(b'{"event_id": "big", "pad": "' + b"x" * 70_000 + b'"}\n')


@pytest.fixture(scope="module")
def landed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Landing files of a small simulated day plus a file of bad lines, ingested from the folder."""
    home = tmp_path_factory.mktemp("files")
    conf = sim_settings(home)
    generate(home, START, DAYS, USERS, seed=SEED, settings=conf, progress=False)
    _bad_lines_file(conf.path("landing"))
    for source in SOURCES:
        ingest_source(spark, source, conf, run_id="files")
    return conf


@pytest.fixture(scope="module")
def streamed(
    spark: SparkSession, broker: Broker, landed: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The same landing files produced to topics, then ingested from Kafka in small batches."""
    home = tmp_path_factory.mktemp("streamed")
    conf = _kafka_settings(home, broker, "same", batch=BATCH)
    for source in SOURCES:
        produce(spark, source, landed, topic=f"same.{source}", bootstrap=broker.bootstrap)
        ingest_source(spark, source, conf, run_id="kafka")
    return conf


def _rows(spark: SparkSession, name: str, conf: Settings) -> DataFrame:
    df = read_table(spark, name, conf)
    return df.drop(*[c for c in WHERE if c in df.columns])


def _assert_same_source(spark: SparkSession, source: str, got: Settings, want: Settings) -> None:
    """``source``'s bronze rows and quarantine rows in ``got`` equal those in ``want``."""
    events = f"bronze.{source}_events"
    assertDataFrameEqual(_rows(spark, events, got), _rows(spark, events, want))
    mine = F.col("source") == source
    assertDataFrameEqual(
        _rows(spark, "bronze.quarantine", got).where(mine), _rows(spark, "bronze.quarantine", want).where(mine)
    )


@pytest.mark.parametrize("table", [f"bronze.{s}_events" for s in SOURCES] + ["bronze.quarantine"])
def test_kafka_and_files_give_the_same_bronze(
    spark: SparkSession, landed: Settings, streamed: Settings, table: str
) -> None:
    assertDataFrameEqual(_rows(spark, table, streamed), _rows(spark, table, landed))


def test_the_bad_lines_are_quarantined_with_their_reasons(spark: SparkSession, streamed: Settings) -> None:
    planted = (
        read_table(spark, "bronze.quarantine", streamed)
        .where(F.col("raw_line").rlike(r'^\{"event_id": "(caf|half|big)'))
        .select(
            "reason", "line_bytes", F.length("raw_line").alias("kept"), F.substring("raw_line", 1, 20).alias("head")
        )
    )
    expected = [
        ("invalid_encoding", 47, 47, '{"event_id": "caf\ufffd",'),
        ("malformed_json", 30, 30, '{"event_id": "half",'),
        ("oversized_line", 70_030, 1024, '{"event_id": "big", '),
    ]
    assertDataFrameEqual(planted, spark.createDataFrame(expected, planted.schema))


def test_every_record_is_in_the_ledger_once(spark: SparkSession, streamed: Settings) -> None:
    """Per source: the partition ranges of bronze.ingest_files cover offsets 0.. without gap or overlap,
    and their lines equal valid + quarantined rows, as bronze and the quarantine hold them."""
    ledger = read_table(spark, "bronze.ingest_files", streamed)
    for source in SOURCES:
        rows = ledger.where(F.col("source") == source).select("path", "lines", "valid", "quarantined").collect()
        spans: dict[int, list[tuple[int, int]]] = {}
        for r in rows:
            partition, offsets = r["path"].removeprefix(f"kafka://same.{source}/").split("/")
            first, last = (int(x) for x in offsets.split("-"))
            spans.setdefault(int(partition), []).append((first, last))
            assert r["lines"] == last - first + 1 == r["valid"] + r["quarantined"]
        for partition, ranges in spans.items():
            ranges.sort()
            assert ranges[0][0] == 0, (source, partition)
            assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges)), (source, partition)
        lines = sum(r["lines"] for r in rows)
        stored = (
            read_table(spark, f"bronze.{source}_events", streamed).count()
            + read_table(spark, "bronze.quarantine", streamed).where(F.col("source") == source).count()
        )
        assert lines == stored
    # Small batches: the topic came in several, and each wrote its metrics row.
    runs = read_table(spark, "bronze.ingest_runs", streamed).where(F.col("source") == "clickstream").count()
    assert runs >= 3


def test_a_batch_dying_between_writes_lands_once_on_the_rerun(
    spark: SparkSession, broker: Broker, landed: Settings, streamed: Settings, tmp_path: Path
) -> None:
    conf = _kafka_settings(tmp_path / "crash", broker, "same", batch=BATCH)
    with pytest.raises(StreamingQueryException, match="injected failure after the events write of batch 0"):
        ingest_source(spark, "search", conf, run_id="dies", fail_after="events")
    ingest_source(spark, "search", conf, run_id="recovers")
    _assert_same_source(spark, "search", conf, streamed)


def test_a_lost_checkpoint_ingests_only_new_records(
    spark: SparkSession, broker: Broker, landed: Settings, tmp_path: Path
) -> None:
    conf = _kafka_settings(tmp_path / "reset", broker, "reset")
    produce(spark, "orders", landed, topic="reset.orders", bootstrap=broker.bootstrap)
    first = ingest_source(spark, "orders", conf, run_id="first")
    shutil.rmtree(conf.path("checkpoints"))
    produce(spark, "orders", landed, topic="reset.orders", bootstrap=broker.bootstrap)
    second = ingest_source(spark, "orders", conf, run_id="second")
    # The second run read the topic from its start: the first copy was skipped, the second landed.
    assert (second.lines, second.valid, second.quarantined) == (first.lines, first.valid, first.quarantined)
    assert second.files_skipped == first.lines
    orders = read_table(spark, "bronze.orders_events", conf)
    assert orders.count() == 2 * first.valid
    assert orders.select("_source_file", "_line").distinct().count() == 2 * first.valid


def _cli(conf: Settings, broker: Broker, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs", *args],
        env={
            **os.environ,
            "DETAK_ENV": "ci",
            "DETAK_HOME": str(conf.home),
            "DETAK__INGEST__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
            "DETAK__INGEST__KAFKA__MAX_OFFSETS_PER_TRIGGER": str(BATCH),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


# Three `detak` processes, each starting its own JVM, around a SIGKILL: a soak like tests/faults'
# kills (three minutes on 2 cores); the in-process crash between writes above stays in the suite.
@pytest.mark.soak
def test_an_ingest_killed_and_restarted_lands_every_record_once(
    spark: SparkSession, broker: Broker, landed: Settings, streamed: Settings, tmp_path: Path
) -> None:
    """``detak produce``, then ``detak ingest`` SIGKILLed once its second batch has committed, then run again."""
    conf = _kafka_settings(tmp_path / "killed", broker, "killed")
    produced = _cli(
        conf, broker, "produce", "--source", "clickstream", DETAK__PATHS__LANDING=str(landed.path("landing"))
    )
    out, _ = produced.communicate(timeout=300)
    assert produced.returncode == 0 and "sent to topic detak.clickstream" in out, out

    topic = {"DETAK__INGEST__KAFKA__TOPICS__CLICKSTREAM": "detak.clickstream"}
    first = _cli(conf, broker, "ingest", "--source", "clickstream", "--run-id", "killed", **topic)
    assert first.stdout is not None
    seen = []
    for text in first.stdout:
        seen.append(text)
        if text.startswith("clickstream batch 1:"):
            break
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert seen and seen[-1].startswith("clickstream batch 1:"), "".join(seen[-20:])

    again = _cli(conf, broker, "ingest", "--source", "clickstream", "--run-id", "restarted", **topic)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    _assert_same_source(spark, "clickstream", conf, landed)


def test_the_long_running_mode_ingests_each_new_record_as_it_arrives(
    spark: SparkSession, broker: Broker, landed: Settings, tmp_path: Path
) -> None:
    """``--every``: one query stays up, and what is produced while it runs lands in the next batches."""
    conf = _kafka_settings(tmp_path / "every", broker, "every")
    valid = read_table(spark, "bronze.search_events", landed).count()
    query = start_query(spark, "search", conf, run_id="every", every="1 second")
    try:
        _, sent = produce(spark, "search", landed, topic="every.search", bootstrap=broker.bootstrap)
        query.processAllAvailable()
        assert read_table(spark, "bronze.search_events", conf).count() == valid
        produce(spark, "search", landed, topic="every.search", bootstrap=broker.bootstrap)
        query.processAllAvailable()
        assert query.isActive
        assert read_table(spark, "bronze.search_events", conf).count() == 2 * valid
    finally:
        query.stop()
    report = run_report(spark, "search", "every", conf)
    assert (report.lines, report.valid) == (2 * sent, 2 * valid)
