"""Killed at random moments, detak loses nothing: 30 SIGKILLs across every stage, then the same
tables as a run that was never interrupted.

One tiny simulated shop goes through ingest → silver → gold → features → gate → publish to DuckDB
and to PostgreSQL → forget, twice: in this process without faults (the reference), and through
the real CLI in subprocesses, every step killed several times (tests/faults/harness.py) before one
attempt is let finish. Afterwards every landing line is accounted for, the lake and both
warehouses equal the reference, and no staging table is visible.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psycopg
import pytest
from pyspark.sql import SparkSession

from jobs.bronze.ingest import run_ingest
from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.maintenance.forget import forget_users
from jobs.registry import SILVER, jobs, run
from jobs.silver.reconcile import reconcile
from jobs.simulate import generate
from tests.conftest import sim_settings
from tests.faults.harness import Outcome, Step, inject
from tests.quality.helpers import postgres_cluster

pytestmark = pytest.mark.integration

START, DAYS, USERS, SEED = date(2026, 11, 10), 2, 25, 3
LAST = START + timedelta(days=DAYS - 1)
SOURCES = ["clickstream", "search", "orders"]
KILLS = {"ingest": 5, "silver": 5, "gold": 2, "gate": 3, "publish_duckdb": 3, "publish_postgres": 3, "forget": 3}


@dataclass
class Run:
    clean: Settings
    faulty: Settings
    pg: dict[str, Any]
    user: str
    before_forget: dict[str, Any]
    outcome: Outcome
    seconds: float


def _pg_settings(conf: Settings, pg: dict[str, Any], database: str) -> Settings:
    return sim_settings(
        conf.home,
        warehouse={"target": "postgres", "postgres": {"host": pg["host"], "port": pg["port"], "database": database}},
    )


def _pg_env(pg: dict[str, Any], database: str) -> tuple[tuple[str, str], ...]:
    return (
        ("DETAK__WAREHOUSE__TARGET", "postgres"),
        ("DETAK__WAREHOUSE__POSTGRES__HOST", pg["host"]),
        ("DETAK__WAREHOUSE__POSTGRES__PORT", str(pg["port"])),
        ("DETAK__WAREHOUSE__POSTGRES__DATABASE", database),
    )


def _snapshot(spark: SparkSession, conf: Settings, pg: dict[str, Any], database: str) -> dict[str, Any]:
    names = [*SILVER, *[t for j in jobs("daily") if j.stage in ("gold", "features") for t in j.outputs]]
    lake = {n: read_table(spark, n, conf).drop("run_date").collect() for n in names}
    return {"lake": lake, "duckdb": _duckdb(conf), "postgres": _postgres(pg, database)}


def _duckdb(conf: Settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(conf["paths"]["warehouse"]), read_only=True) as con:
        sql = "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1"
        names = [r[0] for r in con.execute(sql).fetchall()]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def _postgres(pg: dict[str, Any], database: str) -> dict[str, list[tuple]]:
    with psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=database) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1").fetchall()]  # fmt: skip
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def _pick_user(source: Path) -> str:
    orders = pd.read_parquet(source / "truth" / "orders.parquet")
    return str(sorted(orders["user_id"].dropna().unique())[0])


@pytest.fixture(scope="module")
def fault_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    import time

    root = tmp_path_factory.mktemp("faults")
    source = root / "source"
    generate(source, START, DAYS, USERS, seed=SEED, settings=sim_settings(source), progress=False)
    with postgres_cluster(root) as pg:
        for db in ("clean", "faulty"):
            subprocess.run(["createdb", "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"], db], check=True)
        homes = {}
        for name in ("clean", "faulty"):
            shutil.copytree(source / "landing", root / name / "landing")
            homes[name] = sim_settings(root / name)
        clean, faulty = homes["clean"], homes["faulty"]
        user = _pick_user(source)

        durations: dict[str, float] = {}

        def timed(step: str, fn: Any) -> None:
            t0 = time.monotonic()
            fn()
            durations[step] = max(durations.get(step, 0.0), time.monotonic() - t0)

        timed("ingest", lambda: run_ingest(spark, SOURCES, clean, run_id="clean"))
        for j in jobs("daily"):
            key = {"silver": "silver", "quality_gate": "gate", "publish": "publish_duckdb"}.get(j.name, "gold")
            timed(key, lambda j=j: run(j.name, spark, LAST, clean))
        timed("publish_postgres", lambda: run("publish", spark, LAST, _pg_settings(clean, pg, "clean")))
        before_forget = _snapshot(spark, clean, pg, "clean")
        timed("forget", lambda: forget_users(spark, clean, user_ids=[user]))

        date_args = ("--date", str(LAST))
        steps = [
            (Step("ingest", ("ingest",), durations["ingest"]), KILLS["ingest"]),
            (Step("silver", ("job", "silver", *date_args), durations["silver"]), KILLS["silver"]),
            *[
                (Step(j.name, ("job", j.name, *date_args), durations["gold"]), KILLS["gold"])
                for j in jobs("daily")
                if j.stage in ("gold", "features")
            ],
            (Step("quality_gate", ("job", "quality_gate", *date_args), durations["gate"]), KILLS["gate"]),
            (
                Step("publish_duckdb", ("job", "publish", *date_args), durations["publish_duckdb"]),
                KILLS["publish_duckdb"],
            ),
            (
                Step("publish_postgres", ("job", "publish", *date_args), durations["publish_postgres"],
                     _pg_env(pg, "faulty")),
                KILLS["publish_postgres"],
            ),
        ]  # fmt: skip
        t0 = time.monotonic()
        log = root / "faults.log"
        outcome = inject(faulty.home, steps, seed=17, log=log)
        faulty_before = _snapshot(spark, faulty, pg, "faulty")
        accounting = _accounting(spark, faulty)
        forget = Step("forget", ("forget", "--user", user), durations["forget"])
        more = inject(faulty.home, [(forget, KILLS["forget"])], seed=18, log=log)
        outcome.attempts += more.attempts
        seconds = time.monotonic() - t0
        yield Run(clean, faulty, pg, user, {"clean": before_forget, "faulty": faulty_before,
                                            "accounting": accounting}, outcome, seconds)  # fmt: skip


def _accounting(spark: SparkSession, conf: Settings) -> dict[str, int]:
    landing = conf.path("landing")
    lines = sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in landing.rglob("*.jsonl.gz"))
    bronze = sum(read_table(spark, f"bronze.{s}_events", conf).count() for s in SOURCES)
    quarantine = read_table(spark, "bronze.quarantine", conf).count()
    return {"landing_lines": lines, "bronze": bronze, "quarantine": quarantine}


def test_thirty_kills_across_every_stage(fault_run: Run) -> None:
    by_step = fault_run.outcome.kills_by_step()
    assert fault_run.outcome.kills >= 30, by_step
    for stage in ("ingest", "silver", "quality_gate", "publish_duckdb", "publish_postgres", "forget"):
        assert by_step.get(stage, 0) >= 2, by_step
    print(f"{fault_run.outcome.kills} kills in {fault_run.seconds:.0f} s: {by_step}")


def test_every_landing_line_is_accounted_for(spark: SparkSession, fault_run: Run) -> None:
    counts = fault_run.before_forget["accounting"]
    assert counts["landing_lines"] == counts["bronze"] + counts["quarantine"]
    result = reconcile(spark, fault_run.faulty)
    assert (result.mismatches, result.files.get("unbalanced")) == ([], 0)


def test_lake_and_both_warehouses_equal_a_clean_run(spark: SparkSession, fault_run: Run) -> None:
    clean, faulty = fault_run.before_forget["clean"], fault_run.before_forget["faulty"]
    for name, rows in clean["lake"].items():
        assert sorted(faulty["lake"][name], key=repr) == sorted(rows, key=repr), name
    assert faulty["duckdb"] == clean["duckdb"]
    assert faulty["postgres"] == clean["postgres"]
    after_clean = _snapshot(spark, fault_run.clean, fault_run.pg, "clean")
    after_faulty = _snapshot(spark, fault_run.faulty, fault_run.pg, "faulty")
    assert after_faulty["duckdb"] == after_clean["duckdb"]
    for name in after_clean["lake"]:
        assert sorted(after_faulty["lake"][name], key=repr) == sorted(after_clean["lake"][name], key=repr), name


def test_no_staging_table_is_visible(fault_run: Run) -> None:
    for snapshot in (fault_run.before_forget["faulty"],):
        assert [n for n in snapshot["duckdb"] if "_stage_" in n] == []
        assert [n for n in snapshot["postgres"] if "_stage_" in n] == []
        assert sorted(n.split(".")[0] for n in snapshot["duckdb"]) == sorted(
            n.split(".")[0] for n in fault_run.before_forget["clean"]["duckdb"]
        )
    staging = Path(str(fault_run.faulty["warehouse"]["staging_dir"]))
    assert not staging.exists() or not any(staging.iterdir())
