"""Run detak's DAGs through Airflow in one process, one logical date after another (``dag.test()``).

``python -m jobs.orchestration.dag_runs DAG_ID@LOGICAL_DATE[,KEY=VALUE...] ...`` loads the DAG
folder and runs each DAG run with ``dag.test()``; ``KEY=VALUE`` pairs are the run's conf, e.g.
``since=2026-11-08``. Runs are recorded in Airflow's metadata database, so the UI of ``make
airflow`` shows them and their task logs and prints a line per task. The caller sets
the Airflow environment (``jobs.orchestration.airflow.airflow_environ``) and, to share one Spark
session across every task, ``DETAK__AIRFLOW__TASK_RUNNER=in_process``. Exits non-zero at the
first run that does not succeed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jobs.common.config import Settings

Run = tuple[str, datetime, dict[str, str]]


def parse_run(spec: str) -> Run:
    dag_id, _, rest = spec.partition("@")
    when, *pairs = rest.split(",")
    if not dag_id or not when or any("=" not in p for p in pairs):
        raise SystemExit(f"expected DAG_ID@YYYY-MM-DD[THH:MM][,KEY=VALUE...], got {spec!r}")
    logical = datetime.fromisoformat(when)
    conf = dict(p.split("=", 1) for p in pairs)
    return dag_id, logical if logical.tzinfo else logical.replace(tzinfo=UTC), conf


def run_dags(runs: Sequence[Run]) -> int:
    from airflow.dag_processing.dagbag import DagBag

    from jobs.common.config import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"DAG import error in {path}: {error}", file=sys.stderr)
        return 2
    for i, (dag_id, logical, conf) in enumerate(runs, 1):
        t0 = time.monotonic()
        extra = f" with conf {conf}" if conf else ""
        print(f"  airflow [{i}/{len(runs)}] {dag_id} for {logical:%Y-%m-%d %H:%M}{extra}", flush=True)
        dag = bag.dags[dag_id]
        # dag.test() of Airflow 3.3 fails a successful run of a DAG with a DeadlineAlert at its
        # very end (its in-memory scheduler DAG holds the encoded alerts where the scheduler expects
        # alert ids). Nothing watches deadlines in a run without a scheduler, so this run goes
        # without; the DAG synced to the metadata database, and the UI, keep theirs.
        dag.deadline = None
        dag_run = dag.test(logical_date=logical, run_conf=conf or None)
        instances = sorted(dag_run.get_task_instances(), key=lambda ti: (ti.start_date or logical, ti.task_id))
        for ti in instances:
            took = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else 0.0
            print(f"      {ti.task_id:<32} {ti.state!s:<10} {took:6.1f}s", flush=True)
        print(f"    {dag_id} {logical:%Y-%m-%d}: {dag_run.state} in {time.monotonic() - t0:.0f}s", flush=True)
        if str(dag_run.state) != "success":
            return 1
    return 0


def run_in_airflow(conf: Settings, runs: list[str], log_path: Path, base: dict[str, str] | None = None) -> None:
    """Migrate Airflow's database, then run ``runs`` (``DAG@DATE[,k=v]``) in one subprocess.

    Every task shares that process and so one Spark session (``airflow.task_runner`` is
    ``in_process`` there). The full log goes to ``log_path``; a line per DAG run, per task and per
    job start and finish is printed as it happens. ``base`` is the environment to start from
    (default: this process's). Raises ``SystemExit`` when a run fails.
    """
    from jobs.orchestration.airflow import airflow_environ

    env = airflow_environ(conf, base=base)
    env["DETAK__AIRFLOW__TASK_RUNNER"] = "in_process"
    airflow = str(Path(sys.executable).parent / "airflow")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.orchestration.dag_runs", *runs],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            text = line.rstrip()
            # This module's own lines and the jobs' start and finish lines; the rest stays in the log.
            if text.startswith(("  airflow", "      ", "    detak_")):
                print(text, flush=True)
            elif text.endswith(": started") or " done in " in text:
                print(f"        {text.strip()}", flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"a DAG run failed; see {log_path}")


def main(argv: Sequence[str] | None = None) -> int:
    specs = list(sys.argv[1:] if argv is None else argv)
    if not specs:
        raise SystemExit(__doc__)
    return run_dags([parse_run(s) for s in specs])


if __name__ == "__main__":
    raise SystemExit(main())
