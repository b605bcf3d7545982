"""Run detak's DAGs through Airflow in one process, one logical date after another (``dag.test()``).

``python -m jobs.orchestration.dag_runs DAG_ID@LOGICAL_DATE[,KEY=VALUE...] ...`` loads the DAG
folder and runs each DAG run with ``dag.test()``; ``KEY=VALUE`` pairs are the run's conf, e.g.
``since=2026-11-08``. Runs are recorded in Airflow's metadata database, so the UI of ``make
airflow`` shows them and their task logs and prints a line per task. The caller sets
the Airflow environment (``jobs.orchestration.airflow.airflow_environ``) and, to share one Spark
session across every task, ``DETAK__AIRFLOW__TASK_RUNNER=in_process``. Exits non-zero at the
first run that does not succeed. ``--then MODULE:FUNCTION`` calls that function afterwards in the
same process (on the same Spark session); its return value is the exit code.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def run_dags(runs: Sequence[Run], mark_success: str | None = None) -> int:
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
        dag_run = dag.test(logical_date=logical, run_conf=conf or None, mark_success_pattern=mark_success)
        instances = sorted(dag_run.get_task_instances(), key=lambda ti: (ti.start_date or logical, ti.task_id))
        for ti in instances:
            took = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else 0.0
            print(f"      {ti.task_id:<32} {ti.state!s:<10} {took:6.1f}s", flush=True)
        print(f"    {dag_id} {logical:%Y-%m-%d}: {dag_run.state} in {time.monotonic() - t0:.0f}s", flush=True)
        if str(dag_run.state) != "success":
            return 1
    return 0


#: Printed once every run succeeded, before the ``--then`` step: what follows is for the user.
RUNS_DONE = "  airflow: every run succeeded"


def run_in_airflow(
    conf: Settings,
    runs: list[str],
    log_path: Path,
    base: dict[str, str] | None = None,
    then: str | None = None,
    task_runner: str = "in_process",
    mark_success: str | None = None,
) -> None:
    """Migrate Airflow's database, then run ``runs`` (``DAG@DATE[,k=v]``) in one subprocess.

    Every task shares that process and so one Spark session (``airflow.task_runner`` is
    ``in_process`` there); ``then`` (``module:function``) runs in it afterwards, on the same
    session. The full log goes to ``log_path``; a line per DAG run, per task and per job start and
    finish is printed as it happens, with Spark's progress bar on a terminal, and everything
    ``then`` prints. ``base`` is the environment to start from (default: this process's). Raises
    ``SystemExit`` when a run or ``then`` fails. ``task_runner`` (``airflow.task_runner``) may
    instead be ``spark_submit`` (a spark-submit per task, e.g. to a cluster) or ``spark_connect``;
    tasks whose id matches the regular expression ``mark_success`` are marked successful unrun.
    """
    from jobs.orchestration.airflow import airflow_environ, ensure_pools

    env = airflow_environ(conf, base=base)
    env["DETAK__AIRFLOW__TASK_RUNNER"] = task_runner
    airflow = str(Path(sys.executable).parent / "airflow")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
        ensure_pools(conf, env, log)
        args = [sys.executable, "-m", "jobs.orchestration.dag_runs", *runs, *(["--then", then] if then else [])]
        args += ["--mark-success", mark_success] if mark_success else []
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        echo = _Echo(log, live_bar=sys.stdout.isatty())
        while chunk := os.read(proc.stdout.fileno(), 65536):
            echo.feed(chunk.decode("utf-8", "replace"))
        echo.feed("\n")
        if proc.wait() != 0:
            raise SystemExit(f"a DAG run failed; see {log_path}")


class _Echo:
    """Splits the runner's output into the log (all of it) and the terminal (what a person reads)."""

    def __init__(self, log: Any, live_bar: bool) -> None:
        self.log, self.live_bar, self.rest, self.after_runs, self.bar = log, live_bar, "", False, False

    def feed(self, text: str) -> None:
        self.log.write(text)
        self.rest += text
        *records, self.rest = re.split(r"(?<=[\r\n])", self.rest)
        for record in records:
            line = record.rstrip("\r\n")
            if record.endswith("\r"):
                # Spark's console progress bar redraws itself after a carriage return.
                if self.live_bar and line.startswith("[Stage"):
                    print("\r" + line[:100].ljust(100), end="", flush=True)
                    self.bar = True
                continue
            self.line(line)

    def line(self, text: str) -> None:
        show = None
        if self.after_runs:
            show = None if SPARK_LOG.match(text) or text.startswith("[Stage") else text
        elif text == RUNS_DONE:
            self.after_runs = True
        elif text.startswith(("  airflow", "      ", "    detak_")):
            show = text
        elif text.endswith(": started") or " done in " in text:
            show = f"        {text.strip()}"
        if show is not None:
            if self.bar:
                print("\r" + " " * 100 + "\r", end="")
                self.bar = False
            print(show, flush=True)


#: Spark's and py4j's own log lines, kept out of the terminal.
SPARK_LOG = re.compile(r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO|ERROR)|\s*$)")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m jobs.orchestration.dag_runs", description=__doc__)
    parser.add_argument("runs", nargs="+", metavar="DAG_ID@DATE[,KEY=VALUE...]")
    parser.add_argument("--then", metavar="MODULE:FUNCTION", help="called afterwards in this process")
    parser.add_argument("--mark-success", metavar="REGEX", help="tasks whose id matches are marked successful unrun")
    args = parser.parse_args(argv)
    code = run_dags([parse_run(s) for s in args.runs], mark_success=args.mark_success)
    if code or args.then is None:
        return code
    print(RUNS_DONE, flush=True)
    module, _, func = args.then.partition(":")
    return int(getattr(importlib.import_module(module), func)() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
