"""``detak demo``: a week around 11.11 from simulated shop events to the warehouse and a report.

1. simulate Nov 8–14 for 20,000 users into landing files;
2. run the DAGs through Airflow (``dag.test()``, recorded in Airflow's database so ``make
   airflow`` shows the runs and task logs): ``detak_ingest`` once, then one ``detak_behaviour``
   run for Nov 14, which processes every date the ingest brought (silver → gold → features →
   quality gate → publish: incremental by data, so one run catches up the week), every task on
   one shared Spark session;
3. reconcile landing, bronze and quarantine with the simulator's truth;
4. print a per-day summary read from the DuckDB warehouse and write the HTML report.

Steps 3 and 4 (:func:`finish`) run in the Airflow process after the DAG runs, on its Spark session.

The demo lives in its own home (``var/demo`` unless ``DETAK_DEMO_HOME`` says otherwise) and starts
from a clean slate there, so it never touches data a user keeps under ``DETAK_HOME``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.common.config import REPO_ROOT, Settings, load_settings
from jobs.common.text import format_table

DEMO_START = date(2026, 11, 8)
DEMO_DAYS = 7
DEMO_USERS = 20000
DEMO_SEED = 1111


def count_landing_lines(landing: Path, source: str) -> int:
    """Lines in a source's landing files, counted straight from the files (not by Spark)."""
    total = 0
    for path in sorted((landing / source).rglob("*.jsonl.gz")):
        with gzip.open(path, "rb") as f:
            total += sum(1 for _ in f)
    return total


def reconcile(spark: Any, conf: Settings, truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Per source: landing lines, bronze rows, quarantine rows by reason, and the simulator's truth."""
    from pyspark.sql import functions as F

    from jobs.common.tables import read_table

    quarantine = read_table(spark, "bronze.quarantine", conf)
    rows = []
    for source in conf["ingest"]["sources"]:
        by_reason = {
            r["reason"]: int(r["n"])
            for r in quarantine.where(F.col("source") == source)
            .groupBy("reason")
            .agg(F.count("*").alias("n"))
            .collect()  # bounded: one row per reason
        }
        expected = truth["sources"][source]
        rows.append(
            {
                "source": source,
                "landing_lines": count_landing_lines(conf.path("landing"), source),
                "bronze_rows": read_table(spark, f"bronze.{source}_events", conf).count(),
                "quarantined": sum(by_reason.values()),
                "by_reason": by_reason,
                "truth_lines": expected["lines"],
                "truth_valid": expected["good_events"] + expected["duplicate_lines"],
                "truth_by_reason": {k: v for k, v in expected["malformed_by_reason"].items() if v},
            }
        )
    return rows


def format_reconciliation(rows: list[dict[str, Any]]) -> str:
    reasons = sorted({r for row in rows for r in (*row["by_reason"], *row["truth_by_reason"])})
    head = ["source", "landing lines", "bronze rows", "quarantined", *reasons, "reconciles"]
    table = [head]
    for row in rows:
        ok = (
            row["landing_lines"] == row["bronze_rows"] + row["quarantined"] == row["truth_lines"]
            and row["bronze_rows"] == row["truth_valid"]
            and row["by_reason"] == row["truth_by_reason"]
        )
        row["reconciles"] = ok
        table.append(
            [row["source"], row["landing_lines"], row["bronze_rows"], row["quarantined"],
             *[row["by_reason"].get(r, 0) for r in reasons], "yes" if ok else "NO"]
        )  # fmt: skip
    return format_table(head, table[1:])


def demo(start: date = DEMO_START, days: int = DEMO_DAYS, users: int = DEMO_USERS, seed: int = DEMO_SEED) -> int:
    from jobs.orchestration.dag_runs import run_in_airflow
    from jobs.simulate import generate

    home = Path(os.environ.get("DETAK_DEMO_HOME", REPO_ROOT / "var" / "demo")).resolve()
    os.environ["DETAK_HOME"] = str(home)
    conf = load_settings()
    for name in ("landing", "lake", "checkpoints", "airflow_home", "warehouse", "reports"):
        path = conf.path(name)
        shutil.rmtree(path.parent if name == "warehouse" else path, ignore_errors=True)
    shutil.rmtree(home / "quality", ignore_errors=True)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    end = start + timedelta(days=days - 1)
    t0 = time.monotonic()
    print(f"1/4 simulating {start}..{end} for {users:,} users into {home}/landing", flush=True)
    truth = generate(home, start, days, users, seed, settings=conf, progress=True)
    print(f"    {truth['lines_total']:,} lines written ({time.monotonic() - t0:.0f}s)", flush=True)

    log_path = home / "logs" / "airflow.log"
    print(
        f"2/4 running the DAGs through Airflow: detak_ingest, then detak_behaviour for {end}\n"
        f"    (one run catches up every date ingested: silver → gold → features → quality gate → publish)",
        flush=True,
    )
    ingest_at = datetime.combine(end + timedelta(days=1), datetime.min.time())
    runs = [f"detak_ingest@{ingest_at.isoformat()}", f"detak_behaviour@{end.isoformat()}"]
    # Steps 3 and 4 run in the Airflow process afterwards, on its Spark session.
    run_in_airflow(conf, runs, log_path, then="jobs.demo:finish")
    print(f"Airflow log: {log_path}")
    print(f"Total {time.monotonic() - t0:.0f}s.")
    return 0


def finish() -> int:
    """Steps 3 and 4: reconcile with the simulator's truth, then the summary and the report.

    Runs after the DAG runs in their process (``dag_runs --then``); non-zero when a source does
    not reconcile.
    """
    from jobs.common.config import settings
    from jobs.common.spark import get_spark
    from jobs.report import build_report, format_summary

    conf = settings()
    home = conf.home
    truth = json.loads((home / "truth" / "summary.json").read_text())
    first = date.fromisoformat(str(truth["args"]["start"]))
    last = first + timedelta(days=int(truth["args"]["days"]) - 1)
    t = time.monotonic()
    print("3/4 reconciling landing, bronze and quarantine with the simulator's truth", flush=True)
    rows = reconcile(get_spark(conf, app_name="detak-demo"), conf, truth)
    print(format_reconciliation(rows))
    (home / "logs" / "demo-reconciliation.json").write_text(json.dumps(rows, indent=2) + "\n")

    print("4/4 per-day summary from the warehouse, and the HTML report", flush=True)
    report, summary = build_report(conf, first=first, last=last)
    print(format_summary(summary))
    print()
    print(f"Report: {report.as_uri()}")
    print(f"Warehouse: {conf.path('warehouse')}")
    print(f'  try: DETAK_HOME={home} .venv/bin/detak sql "SELECT * FROM gold.funnel_daily LIMIT 5"')
    print(f"    ({time.monotonic() - t:.0f}s)", flush=True)
    return 0 if all(r["reconciles"] for r in rows) else 1
