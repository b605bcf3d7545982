"""A forget request is logged before anything is erased, and a failing step skips nothing else.

The lake is empty and the DuckDB warehouse holds two accounts' rows, so the steps that matter are
the landing rewrite (made to fail, as an unreadable landing file would) and the warehouse delete
that comes after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from pyspark.sql import SparkSession

from jobs.common.tables import table_path
from jobs.maintenance import forget
from jobs.maintenance.forget import REQUESTS, ForgetIncomplete, forget_users, pseudonym, reapply_forget_requests
from jobs.silver.privacy import pseudonym_key
from tests.conftest import ci_settings


def _warehouse(settings: Any, key: bytes) -> Path:
    target = Path(settings["paths"]["warehouse"])
    target.parent.mkdir(parents=True)
    con = duckdb.connect(str(target))
    con.execute("CREATE SCHEMA gold")
    con.execute("CREATE TABLE gold.sessions (session_id VARCHAR, user_id VARCHAR)")
    con.execute("INSERT INTO gold.sessions VALUES ('s1', ?), ('s2', ?)", [pseudonym("A", key), pseudonym("B", key)])
    con.close()
    return target


def _log(spark: SparkSession, settings: Any) -> list[tuple[str, str, bool]]:
    rows = spark.read.format("delta").load(table_path(REQUESTS, settings)).collect()
    return sorted((r["request_id"], r["user_pseudonym"], r["completed_at"] is not None) for r in rows)


def _steps(spark: SparkSession, settings: Any, request_id: str) -> dict[str, str]:
    df = spark.read.format("delta").load(table_path(REQUESTS, settings)).where(f"request_id = '{request_id}'")
    return dict(df.select("steps").first()[0])  # type: ignore[index]


#: The steps of a request on a lake with no table yet: landing, quality, staging and the warehouse.
STEPS = [
    "landing",
    "quality:files",
    "quality:validation_results",
    "reconciliation",
    "warehouse:duckdb",
    "warehouse:staging",
]


def test_a_failed_step_leaves_the_request_open_and_the_next_run_completes_it(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ci_settings(tmp_path / "home")
    key = pseudonym_key(settings)
    target = _warehouse(settings, key)
    pa = pseudonym("A", key)

    def unreadable(*_: object) -> None:
        raise OSError("landing/clickstream/day.jsonl.gz: Input/output error")

    monkeypatch.setattr(forget, "rewrite_landing", unreadable)
    with pytest.raises(ForgetIncomplete, match=r"forget req-1: 1 step\(s\) failed \(landing\)"):
        forget_users(spark, settings, user_ids=["A"], request_id="req-1")

    # The warehouse step after the failed one ran; the request is logged, and open.
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("SELECT session_id FROM gold.sessions").fetchall() == [("s2",)]
    con.close()
    assert _log(spark, settings) == [("req-1", pa, False)]
    steps = _steps(spark, settings, "req-1")
    assert sorted(steps) == STEPS
    assert steps["landing"] == "failed: OSError: landing/clickstream/day.jsonl.gz: Input/output error"
    assert {k: v for k, v in steps.items() if k != "landing"} == {k: "done" for k in STEPS if k != "landing"}

    # The weekly re-apply, with the landing readable again, completes it.
    monkeypatch.undo()
    result = reapply_forget_requests(spark, settings)
    assert result["failed_steps"] == {} and result["requests_completed"] == ["req-1"]
    assert _log(spark, settings) == [("req-1", pa, True)]
    assert _steps(spark, settings, "req-1") == {k: "done" for k in STEPS}

    # A second request that fails stays open until a forget of the same person succeeds.
    monkeypatch.setattr(forget, "rewrite_landing", unreadable)
    with pytest.raises(ForgetIncomplete):
        forget_users(spark, settings, user_ids=["A"], request_id="req-2")
    monkeypatch.undo()
    forget_users(spark, settings, user_ids=["A"], request_id="req-3")
    assert _log(spark, settings) == [("req-1", pa, True), ("req-2", pa, True), ("req-3", pa, True)]
