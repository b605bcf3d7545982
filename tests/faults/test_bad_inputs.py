"""The bad-input matrix (tests/faults/cases.py) through one real ingestion and one silver run:
every kind lands where it must, with its reason, and nothing crashes the run."""

from __future__ import annotations

import gzip
import hashlib
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.bronze.ingest import run_ingest, unknown_folders
from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.silver.daily import run_silver
from tests.conftest import ci_settings
from tests.faults.cases import CASES, MAX_LINE, Case

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def landed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    conf = ci_settings(tmp_path_factory.mktemp("bad_inputs") / "home", ingest={"max_line_bytes": MAX_LINE})
    folder = conf.path("landing") / "search" / "date=2026-11-11"
    for case in CASES:
        for name, data in case.files.items():
            path = (folder / name).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    run_ingest(spark, ["search"], conf, run_id="matrix")
    run_silver(spark, date(2026, 11, 11), conf)
    return conf, [c.name for c in CASES]


def _case_of(path_col: str) -> F.Column:
    return F.regexp_extract(F.col(path_col), r"/([^/]+)$", 1)


def _lines(data: bytes) -> int:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return len(raw.splitlines())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_input_lands_where_it_must(
    spark: SparkSession, landed: tuple[Settings, list[str]], case: Case
) -> None:
    conf, _ = landed
    names = [Path(n).name for n in case.files]
    bronze = read_table(spark, "bronze.search_events", conf).where(_case_of("_source_file").isin(names))
    quarantine = read_table(spark, "bronze.quarantine", conf).where(_case_of("_source_file").isin(names))
    files = read_table(spark, "bronze.quarantine_files", conf).where(_case_of("path").isin(names))
    ledger = read_table(spark, "bronze.ingest_files", conf).where(_case_of("path").isin(names))
    got = (bronze.count(), [r.reason for r in quarantine.collect()], [r.reason for r in files.collect()])
    if case.lands_in == "bronze":
        assert got == (sum(_lines(data) for data in case.files.values()), [], [])
    elif case.lands_in == "quarantine":
        assert got == (0, [case.reason], [])
    elif case.lands_in == "quarantine_files":
        assert got == (0, [], [case.reason])
        assert ledger.select("status", "lines", "valid", "quarantined").collect() == [("quarantined", 0, 0, 0)]
    elif case.lands_in == "repeat":
        assert got == (2, [], [])
        repeats = {r.path.rsplit("/", 1)[1]: r.duplicate_of for r in ledger.collect()}
        first, second = sorted(names)
        assert repeats[first] is None and repeats[second].endswith(first)
    elif case.lands_in == "too_late":
        assert got == (1, [], [])
        recon = read_table(spark, "silver.reconciliation", conf).where(F.col("event_date") == date(2026, 11, 6))
        assert [(r.bronze_rows, r.too_late, r.silver_rows) for r in recon.collect()] == [(1, 1, 0)]
    elif case.lands_in == "warning":
        assert got == (0, [], [])
        assert ledger.count() == 0
        assert unknown_folders(conf) == {"tiktok": 1}
    else:  # pragma: no cover
        raise AssertionError(case.lands_in)


def test_the_matrix_is_wide_and_every_line_is_accounted_for(
    spark: SparkSession, landed: tuple[Settings, list[str]]
) -> None:
    conf, names = landed
    assert len(names) >= 20
    ledger = read_table(spark, "bronze.ingest_files", conf)
    unbalanced = ledger.where(F.col("lines") != F.col("valid") + F.col("quarantined")).count()
    totals = ledger.agg(F.sum("valid"), F.sum("quarantined")).first()
    assert unbalanced == 0
    assert (totals[0], totals[1]) == (
        read_table(spark, "bronze.search_events", conf).count(),
        read_table(spark, "bronze.quarantine", conf).count(),
    )


def test_unknown_fields_are_counted_and_the_oversized_line_kept_as_prefix_and_hash(
    spark: SparkSession, landed: tuple[Settings, list[str]]
) -> None:
    conf, _ = landed
    runs = read_table(spark, "bronze.ingest_runs", conf).select(F.explode("unknown_fields")).collect()
    assert [(r.key, r.value) for r in runs] == [("tracker_version", 1)]
    huge = next(c for c in CASES if c.name == "oversized_line")
    line = gzip.decompress(huge.files["huge.jsonl.gz"]).rstrip(b"\n")
    row = read_table(spark, "bronze.quarantine", conf).where(F.col("reason") == "oversized_line").first()
    assert (row.raw_line, row.line_bytes, row.raw_sha256) == (
        line[: conf["ingest"]["oversized_prefix_bytes"]].decode(),
        len(line),
        hashlib.sha256(line).hexdigest(),
    )
