"""The kill scenario shared by tests/faults/test_kills.py (a bounded set) and ``make bench`` (a soak).

One simulated shop goes through ingest → silver → gold → features → gate → publish to DuckDB and to
PostgreSQL → forget twice: in this process without faults (the reference), and through the real
CLI in subprocesses, every step killed ``kills[step]`` times at random moments before one attempt
is let finish (:mod:`tests.faults.harness`); the daily jobs run as one ``detak run``, killed at
each of its stages in turn. :func:`run_faults` returns both homes' tables,
warehouses and landing accounting for the caller to compare.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psycopg
from pyspark.sql import SparkSession

from jobs.bronze.ingest import run_ingest
from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.maintenance.forget import forget_users
from jobs.registry import SILVER, jobs, run
from jobs.simulate import generate
from tests.conftest import sim_settings
from tests.faults.harness import Outcome, Step, inject

SOURCES = ["clickstream", "search", "orders"]
#: Kills per stage in the bounded set of ``make test`` (every stage twice, about 4 minutes on two
#: cores, where each killed attempt pays a JVM start); ``make bench`` soaks with three times as many.
KILLS = {"ingest": 2, "silver": 2, "gold": 2, "gate": 2, "publish_duckdb": 2, "publish_postgres": 2, "forget": 2}


@dataclass
class FaultRun:
    clean: Settings
    faulty: Settings
    pg: dict[str, Any]
    user: str
    outcome: Outcome
    seconds: float
    snapshots: dict[str, Any] = field(default_factory=dict)
    accounting: dict[str, int] = field(default_factory=dict)


def pg_settings(conf: Settings, pg: dict[str, Any], database: str) -> Settings:
    return sim_settings(
        conf.home,
        warehouse={"target": "postgres", "postgres": {"host": pg["host"], "port": pg["port"], "database": database}},
    )


def pg_env(pg: dict[str, Any], database: str) -> tuple[tuple[str, str], ...]:
    return (
        ("DETAK__WAREHOUSE__TARGET", "postgres"),
        ("DETAK__WAREHOUSE__POSTGRES__HOST", pg["host"]),
        ("DETAK__WAREHOUSE__POSTGRES__PORT", str(pg["port"])),
        ("DETAK__WAREHOUSE__POSTGRES__DATABASE", database),
    )


def published() -> list[str]:
    return [t for j in jobs("daily") if j.stage in ("gold", "features") for t in j.outputs]


def snapshot(spark: SparkSession, conf: Settings, pg: dict[str, Any], database: str) -> dict[str, Any]:
    """Every silver, gold and feature table (rows, sorted) and both warehouses of a home."""
    lake = {
        n: sorted(map(tuple, read_table(spark, n, conf).drop("run_date").collect()), key=repr)
        for n in [*SILVER, *published()]
    }
    return {"lake": lake, "duckdb": duckdb_tables(conf), "postgres": postgres_tables(pg, database)}


def duckdb_tables(conf: Settings) -> dict[str, list[tuple]]:
    path = Path(str(conf["paths"]["warehouse"]))
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        sql = "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1"
        names = [r[0] for r in con.execute(sql).fetchall()]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def postgres_tables(pg: dict[str, Any], database: str) -> dict[str, list[tuple]]:
    with psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=database) as con:
        sql = (
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        )
        names = [r[0] for r in con.execute(sql).fetchall()]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def accounting(spark: SparkSession, conf: Settings) -> dict[str, int]:
    """Landing lines (read back from the files) against bronze rows and quarantined lines."""
    lines = sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in conf.path("landing").rglob("*.jsonl.gz"))
    bronze = sum(read_table(spark, f"bronze.{s}_events", conf).count() for s in SOURCES)
    quarantine = read_table(spark, "bronze.quarantine", conf).count()
    return {"landing_lines": lines, "bronze": bronze, "quarantine": quarantine}


def run_faults(
    spark: SparkSession,
    root: Path,
    pg: dict[str, Any],
    *,
    start: date = date(2026, 11, 10),
    days: int = 2,
    users: int = 25,
    seed: int = 3,
    kills: dict[str, int] = KILLS,
    kill_seed: int = 17,
) -> FaultRun:
    """The reference run and the killed run of one simulated shop (see the module docstring)."""
    last = start + timedelta(days=days - 1)
    source = root / "source"
    generate(source, start, days, users, seed=seed, settings=sim_settings(source), progress=False, workers=1)
    for db in ("clean", "faulty"):
        subprocess.run(["createdb", "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"], db], check=True)
    homes = {}
    for name in ("clean", "faulty"):
        shutil.copytree(source / "landing", root / name / "landing")
        homes[name] = sim_settings(root / name)
    clean, faulty = homes["clean"], homes["faulty"]
    orders = pd.read_parquet(source / "truth" / "orders.parquet")
    user = str(sorted(orders["user_id"].dropna().unique())[0])

    durations: dict[str, float] = {}

    def timed(step: str, fn: Any) -> None:
        t0 = time.monotonic()
        fn()
        took = time.monotonic() - t0
        # The gold kills aim at the span of every gold and feature job; the others at one call.
        durations[step] = durations.get(step, 0.0) + took if step == "gold" else max(durations.get(step, 0.0), took)

    timed("ingest", lambda: run_ingest(spark, SOURCES, clean, run_id="clean"))
    for j in jobs("daily"):
        key = {"silver": "silver", "quality_gate": "gate", "publish": "publish_duckdb"}.get(j.name, "gold")
        timed(key, lambda j=j: run(j.name, spark, last, clean))
    timed("publish_postgres", lambda: run("publish", spark, last, pg_settings(clean, pg, "clean")))
    clean_before = snapshot(spark, clean, pg, "clean")
    timed("forget", lambda: forget_users(spark, clean, user_ids=[user]))

    # One `detak run` (silver → gold → features → gate → publish) is killed at each of its stages in
    # turn: a stage finished by an earlier attempt is a no-op in the next one, as after a real crash.
    run_argv = ("run", "--date", str(last))
    first_gold = next(j.name for j in jobs("daily") if j.stage in ("gold", "features"))
    steps = [
        (Step("ingest", ("ingest",), durations["ingest"]), kills["ingest"]),
        (Step("silver", run_argv, durations["silver"], marker="silver: started", finish=False), kills["silver"]),
        (Step("gold", run_argv, durations["gold"], marker=f"{first_gold}: started", finish=False), kills["gold"]),
        (Step("quality_gate", run_argv, durations["gate"], marker="quality_gate: started", finish=False),
         kills["gate"]),
        (Step("publish_duckdb", run_argv, durations["publish_duckdb"], marker="publish: started"),
         kills["publish_duckdb"]),
        (
            Step("publish_postgres", ("job", "publish", "--date", str(last)), durations["publish_postgres"],
                 pg_env(pg, "faulty")),
            kills["publish_postgres"],
        ),
    ]  # fmt: skip
    t0 = time.monotonic()
    log = root / "faults.log"
    outcome = inject(faulty.home, steps, seed=kill_seed, log=log)
    faulty_before = snapshot(spark, faulty, pg, "faulty")
    counts = accounting(spark, faulty)
    forget = Step("forget", ("forget", "--user", user), durations["forget"])
    outcome.attempts += inject(faulty.home, [(forget, kills["forget"])], seed=kill_seed + 1, log=log).attempts
    seconds = time.monotonic() - t0
    return FaultRun(
        clean,
        faulty,
        pg,
        user,
        outcome,
        seconds,
        snapshots={
            "clean_before_forget": clean_before,
            "faulty_before_forget": faulty_before,
            "clean_after_forget": snapshot(spark, clean, pg, "clean"),
            "faulty_after_forget": snapshot(spark, faulty, pg, "faulty"),
        },
        accounting=counts,
    )
