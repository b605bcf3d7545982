"""``detak demo``: simulate days around 11.11, land them in bronze through Airflow, reconcile.

The demo lives in its own home (``var/demo`` unless ``DETAK_DEMO_HOME`` says otherwise) and starts
from a clean slate there, so it never touches data a user keeps under ``DETAK_HOME``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jobs.common.config import REPO_ROOT, Settings, load_settings
from jobs.common.text import format_table

DEMO_START = date(2026, 11, 10)
DEMO_DAYS = 3
DEMO_USERS = 5000
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


def run_airflow(conf: Settings, log_path: Path) -> None:
    """Migrate Airflow's database and run one detak_ingest DAG run, showing a line per task."""
    from jobs.orchestration.airflow import airflow_environ

    env = airflow_environ(conf)
    airflow = str(Path(sys.executable).parent / "airflow")
    with log_path.open("w") as log:
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
        logical = datetime.now(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
        proc = subprocess.Popen(
            [airflow, "dags", "test", "detak_ingest", logical],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if "[DAG TEST] starting task_id=" in line or "[DAG TEST] end task" in line:
                what = line.split("[DAG TEST]", 1)[1].split("[", 1)[0].strip()
                print(f"  airflow: {what}", flush=True)
            elif "new_state=" in line and "Task instance state updated" in line:
                print(f"  airflow: task {line.split('new_state=')[1].split()[0]}", flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"the detak_ingest DAG run failed; see {log_path}")


def demo(start: date = DEMO_START, days: int = DEMO_DAYS, users: int = DEMO_USERS, seed: int = DEMO_SEED) -> int:
    from jobs.common.spark import get_spark
    from jobs.simulate import generate

    home = Path(os.environ.get("DETAK_DEMO_HOME", REPO_ROOT / "var" / "demo")).resolve()
    os.environ["DETAK_HOME"] = str(home)
    conf = load_settings()
    for name in ("landing", "lake", "checkpoints", "airflow_home"):
        shutil.rmtree(conf.path(name), ignore_errors=True)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"1/3 simulating {days} days from {start} for {users:,} users into {home}/landing", flush=True)
    truth = generate(home, start, days, users, seed, settings=conf, progress=True)
    print(f"    {truth['lines_total']:,} lines written ({time.monotonic() - t0:.0f}s)", flush=True)

    t1 = time.monotonic()
    print("2/3 running the detak_ingest DAG through Airflow (dags test; a task per source)", flush=True)
    run_airflow(conf, home / "logs" / "airflow-ingest.log")
    print(f"    done ({time.monotonic() - t1:.0f}s; Airflow log: {home / 'logs' / 'airflow-ingest.log'})")

    print("3/3 reconciling landing, bronze and quarantine with the simulator's truth", flush=True)
    spark = get_spark(conf, app_name="detak-demo")
    rows = reconcile(spark, conf, truth)
    print()
    print(format_reconciliation(rows))
    print()
    (home / "logs" / "demo-summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"Total {time.monotonic() - t0:.0f}s. Lake: {conf.path('lake')}")
    return 0 if all(r["reconciles"] for r in rows) else 1
