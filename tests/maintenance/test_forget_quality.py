"""Forget reaches Great Expectations' samples (results table, stores, Data Docs) and staging leftovers.

The samples are redacted in place, not deleted: which check ran and how many rows it found stay
on record. Another person's values, and values that merely contain the person's, stay as they were.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import table
from jobs.common.tables import ensure_table, table_path
from jobs.maintenance.forget import ERASED, RESULTS, erase
from tests.conftest import ci_settings


def _results(spark: SparkSession, settings: object, observed: list[str | None]) -> str:
    path = table_path(RESULTS, settings)  # type: ignore[arg-type]
    ensure_table(spark, RESULTS, path=path)
    run_at = datetime(2026, 11, 12, 1, 0)
    rows = [
        ("run-1", "gold.session_facts", date(2026, 11, 11), 3, f"check_{i}", "expect_x", "critical", text, False, 9,
         run_at)
        for i, text in enumerate(observed)
    ]  # fmt: skip
    spark.createDataFrame(rows, table(RESULTS).spark_schema).write.format("delta").mode("append").save(path)
    return path


def test_forget_redacts_quality_samples_and_clears_staging(spark: SparkSession, tmp_path: Path) -> None:
    settings = ci_settings(tmp_path / "home")
    pa, pb = "a" * 64, "b" * 64  # account pseudonyms
    observed = [
        f"2 unexpected, e.g. ['{pa}', '{pb}']",
        f"1 unexpected, e.g. ['{pb}']",
        f"1 unexpected, e.g. ['x{pa}']",  # contains pa, is not pa
        None,
    ]
    path = _results(spark, settings, observed)

    gx = Path(settings["quality"]["gx_dir"]) / "gx" / "uncommitted" / "validations" / "gold" / "r.json"
    gx.parent.mkdir(parents=True)
    gx.write_text(json.dumps({"results": [{"result": {"partial_unexpected_list": [pa, pb], "unexpected_count": 2}}]}))
    page = Path(settings["quality"]["data_docs_dir"]) / "validations" / "gold" / "r.html"
    page.parent.mkdir(parents=True)
    page.write_text(f"<td>{pa}</td><td>{pb}</td>")
    untouched = page.with_name("other.html")
    untouched.write_text(f"<td>{pb}</td>")
    staging = Path(settings["warehouse"]["staging_dir"])
    (staging / "gold_session_facts_0a1b").mkdir(parents=True)
    (staging / "gold_session_facts_0a1b" / "part-0.parquet").write_bytes(b"PAR1")

    result = erase(spark, settings, {pa})

    assert result["failed_steps"] == {}
    assert result["quality"] == {"validation_results_redacted": 1, "files_redacted": 2, "staging_files_removed": 1}
    got = sorted(
        (r["expectation"], r["observed_value"])
        for r in spark.read.format("delta").load(path).select("expectation", "observed_value").collect()
    )
    assert got == [
        ("check_0", f"2 unexpected, e.g. ['{ERASED}', '{pb}']"),
        ("check_1", observed[1]),
        ("check_2", observed[2]),
        ("check_3", None),
    ]
    assert json.loads(gx.read_text()) == {
        "results": [{"result": {"partial_unexpected_list": [ERASED, pb], "unexpected_count": 2}}]
    }
    assert page.read_text() == f"<td>{ERASED}</td><td>{pb}</td>"
    assert untouched.read_text() == f"<td>{pb}</td>"
    assert list(staging.iterdir()) == []
    # The old text is in no data file left on disk (the redacting MERGE's old files are vacuumed).
    files = spark.read.parquet(str(Path(path) / "date=*"))
    assert RESULTS in result["tables_vacuumed"]
    assert files.where(F.col("observed_value").contains(f"'{pa}'")).count() == 0
