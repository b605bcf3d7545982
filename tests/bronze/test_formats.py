"""Tracker formats: each format's fixture lines, built from its spec's own examples, give exactly
the bronze rows of the same events written in detak's contract, and the lines the mapping cannot
place are quarantined once, with their reason."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.formats import load_format
from jobs.bronze.ingest import BINARY_FILE, check, decode, ingest_source
from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.maintenance.housekeeping import delete_landing
from jobs.registry import run
from tests.conftest import ci_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
FORMATS = ["segment", "ga4", "snowplow"]
SOURCES = ("clickstream", "search", "orders")
DAY = "2026-11-11"


@cache
def fixture(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())


def _tsv(fields: dict[str, Any], columns: tuple[str, ...]) -> str:
    unknown = set(fields) - set(columns)
    assert not unknown, f"not Snowplow columns: {unknown}"
    return "\t".join("" if fields.get(c) is None else _text(fields[c]) for c in columns)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def tracker_lines(name: str) -> list[str]:
    """The fixture's landing lines: the events, then the lines to be quarantined."""
    doc, fmt = fixture(name), load_format(name)
    out = []
    for item in [*doc["lines"], *doc["quarantined"]]:
        if "text" in item:
            out.append(item["text"])
            continue
        line = item.get("line", item)
        out.append(_tsv(line, fmt.columns) if fmt.reader == "tsv" else json.dumps(line))
    return out


def detak_lines(name: str) -> dict[str, list[str]]:
    """The fixture's events in detak's contract, per source."""
    doc = fixture(name)["expected"]
    out: dict[str, list[str]] = {s: [] for s in SOURCES}
    for event in doc["events"]:
        merged = {**doc["defaults"][event["source"]], **event}
        source = merged.pop("source")
        out[source].append(json.dumps({k: v for k, v in merged.items() if v is not None}))
    return out


def format_settings(home: Path, name: str) -> Settings:
    return ci_settings(home, ingest={"formats": dict.fromkeys(SOURCES, name), "folders": dict.fromkeys(SOURCES, name)})


def ingest_tracker(spark: SparkSession, home: Path, name: str) -> Settings:
    conf = format_settings(home, name)
    folder = home / "landing" / name / f"date={DAY}"
    folder.mkdir(parents=True)
    suffix = "tsv" if load_format(name).reader == "tsv" else "jsonl"
    (folder / f"part-0.{suffix}").write_text("".join(line + "\n" for line in tracker_lines(name)))
    for source in SOURCES:
        ingest_source(spark, source, conf, run_id="formats")
    return conf


def ingest_detak(spark: SparkSession, home: Path) -> Settings:
    """Every format's events in detak's contract, in one home (their event ids are distinct)."""
    conf = ci_settings(home)
    for source in SOURCES:
        folder = home / "landing" / source / f"date={DAY}"
        folder.mkdir(parents=True)
        for name in FORMATS:
            (folder / f"{name}.jsonl").write_text("".join(line + "\n" for line in detak_lines(name)[source]))
        ingest_source(spark, source, conf, run_id="formats")
    return conf


class Homes(dict[str, Settings]):
    """Per format, a home with its tracker lines ingested, made when a test first asks for it."""

    def __init__(self, spark: SparkSession, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.spark, self.factory = spark, factory

    def __missing__(self, name: str) -> Settings:
        conf = ingest_tracker(self.spark, self.factory.mktemp(f"format_{name}"), name)
        self[name] = conf
        return conf


@pytest.fixture(scope="module")
def homes(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Homes:
    return Homes(spark, tmp_path_factory)


@pytest.fixture(scope="module")
def detak_home(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return ingest_detak(spark, tmp_path_factory.mktemp("formats_detak"))


def _events(spark: SparkSession, conf: Settings, source: str) -> DataFrame:
    """Bronze rows without the ingest metadata (the file name is kept for picking a format's rows)."""
    df = read_table(spark, f"bronze.{source}_events", conf)
    return df.select(*[c for c in df.columns if not c.startswith("_") or c == "_source_file"])


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("source", SOURCES)
def test_bronze_rows_equal_the_same_events_in_detaks_contract(
    spark: SparkSession, homes: Homes, detak_home: Settings, name: str, source: str
) -> None:
    tracker = homes[name]
    expected = _events(spark, detak_home, source).where(F.col("_source_file").endswith(f"/{name}.jsonl"))
    expected = expected.drop("_source_file")
    assert expected.count() == len(detak_lines(name)[source])
    assertDataFrameEqual(_events(spark, tracker, source).drop("_source_file"), expected)


@pytest.mark.parametrize("name", FORMATS)
def test_lines_it_cannot_place_are_quarantined_once_with_their_reason(
    spark: SparkSession, homes: Homes, name: str
) -> None:
    tracker = homes[name]
    doc = fixture(name)
    lines = tracker_lines(name)
    bad = lines[len(doc["lines"]) :]
    rows = read_table(spark, "bronze.quarantine", tracker).select("source", "reason", "raw_line", "_line").collect()
    kept = sorted((r["reason"], r["raw_line"]) for r in rows if r["reason"] != "other_source")
    assert kept == sorted((q["reason"], line) for q, line in zip(doc["quarantined"], bad, strict=True))
    # Every line is in exactly one source whole; the others hold an other_source row without it.
    whole = {(r["_line"]) for r in rows if r["reason"] != "other_source"}
    for source in SOURCES:
        landed = read_table(spark, f"bronze.{source}_events", tracker).select("_line")
        whole |= {r["_line"] for r in landed.collect()}
        others = [r for r in rows if r["source"] == source and r["reason"] == "other_source"]
        assert {r["raw_line"] for r in others} <= {""}
        mine = landed.count() + sum(1 for r in rows if r["source"] == source and r["reason"] != "other_source")
        assert mine + len(others) == len(lines)
    assert whole == set(range(1, len(lines) + 1))


def test_a_source_alone_in_its_folder_keeps_lines_of_other_sources_whole(spark: SparkSession, tmp_path: Path) -> None:
    """A tracker stream read by one source only: what belongs elsewhere stays whole in its quarantine."""
    conf = ci_settings(tmp_path, ingest={"formats": {"clickstream": "segment"}, "folders": {"clickstream": "segment"}})
    folder = tmp_path / "landing" / "segment" / f"date={DAY}"
    folder.mkdir(parents=True)
    lines = tracker_lines("segment")
    (folder / "part-0.jsonl").write_text("".join(line + "\n" for line in lines))
    report = ingest_source(spark, "clickstream", conf, run_id="alone")
    rows = read_table(spark, "bronze.quarantine", conf).where(F.col("reason") == "other_source")
    elsewhere = [x for x in lines if '"event": "Products Searched"' in x or '"event": "Order Completed"' in x]
    assert len(elsewhere) == 3
    assert sorted(r["raw_line"] for r in rows.collect()) == sorted(elsewhere)
    assert report.valid + report.quarantined == len(lines)


README = Path(__file__).resolve().parents[2] / "README.md"
_SAMPLE = re.compile(r"<!-- sample: (\w+) (\w+)[^>]*-->\n```\w*\n(.*?)\n```", re.S)


def test_every_sample_line_of_the_readme_is_a_valid_event(spark: SparkSession, tmp_path: Path) -> None:
    samples = _SAMPLE.findall(README.read_text())
    assert sorted(name for name, _, _ in samples) == sorted(["detak", *FORMATS])
    for name, source, line in samples:
        conf = format_settings(tmp_path / name, name)
        assert "\n" not in line
        files = spark.createDataFrame(
            [(f"file:/{name}.sample", datetime(2026, 11, 11), len(line), line.encode() + b"\n")], BINARY_FILE
        )
        rows = check(decode(files, conf), source, conf).where(F.col("kind") == "line").collect()
        assert [(r["reason"], r["reason_detail"]) for r in rows] == [(None, None)], name


@pytest.fixture(scope="module")
def processed(spark: SparkSession, homes: Homes, detak_home: Settings) -> dict[str, Settings]:
    """Silver and gold browsing run over the detak home and over every format's home."""
    out = {"detak": detak_home, **{name: homes[name] for name in FORMATS}}
    for conf in out.values():
        for job in ("silver", "gold_browsing"):
            run(job, spark, date.fromisoformat(DAY), conf)
    return out


# What silver and gold make of a format's events equals what they make of the same events in
# detak's contract: its sessions, each session's funnel steps, and its orders.
_COMPARED = {
    "silver.sessions": "anonymous_id",
    "gold.session_facts": "anonymous_id",
    "silver.orders": "order_id",
}


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("table", sorted(_COMPARED))
def test_silver_and_gold_equal_those_of_the_same_events_in_detaks_contract(
    spark: SparkSession, processed: dict[str, Settings], name: str, table: str
) -> None:
    key = _COMPARED[table]
    got = read_table(spark, table, processed[name])
    mine = [r[key] for r in got.select(key).distinct().collect()]  # bounded: a fixture's visitors or orders
    assert mine, f"{name}: no rows in {table}"
    want = read_table(spark, table, processed["detak"]).where(F.col(key).isin(mine))
    meta = [c for c in got.columns if c.startswith("_")]
    assertDataFrameEqual(got.drop(*meta), want.drop(*meta))


def test_the_daily_funnel_of_every_format_adds_up_to_that_of_detaks_contract(
    spark: SparkSession, processed: dict[str, Settings]
) -> None:
    """gold.funnel_daily is an aggregate over the day's sessions: the detak home holds every format's
    visitors (none shared), so its sessions, drop-offs and revenue per segment and step are the sums
    of the format homes'."""
    keys = ["date", "channel", "device_type", "region", "top_category", "step_index", "step"]
    additive = [F.sum(c).alias(c) for c in ("sessions", "drop_off", "revenue")]
    formats = None
    for name in FORMATS:
        table = read_table(spark, "gold.funnel_daily", processed[name]).select(*keys, "sessions", "drop_off", "revenue")
        formats = table if formats is None else formats.unionByName(table)
    assert formats is not None
    detak = read_table(spark, "gold.funnel_daily", processed["detak"]).groupBy(*keys).agg(*additive)
    assert detak.where(F.col("step_index") == 0).agg(F.sum("sessions")).first()[0] > 0
    assertDataFrameEqual(formats.groupBy(*keys).agg(*additive), detak)


def test_landing_retention_keeps_a_shared_file_until_every_source_has_ingested_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    conf = format_settings(tmp_path, "segment")
    folder = tmp_path / "landing" / "segment" / f"date={DAY}"
    folder.mkdir(parents=True)
    shared = folder / "part-0.jsonl"
    shared.write_text("".join(line + "\n" for line in tracker_lines("segment")))
    after = date.fromisoformat(DAY) + timedelta(days=30)
    ingest_source(spark, "clickstream", conf, run_id="retention")
    assert delete_landing(spark, conf, after) == {
        "folders_deleted": 0,
        "files_deleted": 0,
        "files_kept_not_ingested": 1,
    }
    assert shared.is_file()
    for source in ("search", "orders"):
        ingest_source(spark, source, conf, run_id="retention")
    assert delete_landing(spark, conf, after) == {
        "folders_deleted": 1,
        "files_deleted": 1,
        "files_kept_not_ingested": 0,
    }
    assert not shared.exists()
