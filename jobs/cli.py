"""The ``detak`` command line. Each verb is a thin wrapper over a job; Airflow runs the same verbs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from jobs.common.config import settings

Handler = Callable[[argparse.Namespace], int]
VERBS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}


def verb(name: str, help_text: str) -> Callable[[Callable[[argparse.ArgumentParser], None]], Callable]:
    """Register a sub-command: the decorated function adds its arguments; ``handler`` runs it."""

    def register(add_args: Callable[[argparse.ArgumentParser], None]) -> Callable:
        def bind(handler: Handler) -> Handler:
            VERBS[name] = (handler, add_args, help_text)
            return handler

        return bind

    return register


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DETAK_HOME)")
    p.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: simulator.workers in conf)")
    p.add_argument("--no-progress", action="store_true")


@verb("generate", "simulate a marketplace's landing files and their ground truth")(_generate_args)
def _generate(args: argparse.Namespace) -> int:
    from jobs.simulate import generate

    out = args.out or settings().home
    summary = generate(
        out,
        args.start,
        args.days,
        args.users,
        args.seed,
        settings=settings(),
        progress=not args.no_progress,
        workers=args.workers,
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", help="source to ingest (repeatable; default: all)")
    p.add_argument("--run-id", default=None, help="id recorded with every row (Airflow passes its run id)")


@verb("ingest", "ingest new landing files into bronze Delta tables, exactly once")(_ingest_args)
def _ingest(args: argparse.Namespace) -> int:
    from jobs.bronze.ingest import format_reports, ingest_source
    from jobs.common.spark import get_spark

    conf = settings()
    sources = args.source or list(conf["ingest"]["sources"])
    spark = get_spark(conf, app_name="detak-ingest")
    reports = [ingest_source(spark, s, conf, run_id=args.run_id) for s in sources]
    print(format_reports(reports))
    return 0


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", type=date.fromisoformat, required=True, help="first date, YYYY-MM-DD")
    p.add_argument("--to", dest="end", type=date.fromisoformat, default=None, help="last date (default: --from)")
    p.add_argument(
        "--daily",
        action="store_true",
        help="run every job once per date, as the scheduler does (default: each job once over the whole range)",
    )


@verb("run", "run the daily pipeline (silver → gold → features → gate → publish) over a range of dates")(_run_args)
def _run(args: argparse.Namespace) -> int:
    """Without Airflow. One pass per job over the range gives the tables the daily runs would give.

    Each job's window covers every date a daily run in the range would rewrite, so the range is
    processed once instead of (lookback + 1) times; ``--daily`` runs date by date instead.
    """
    from datetime import timedelta

    from jobs.common.spark import get_spark
    from jobs.registry import jobs

    conf = settings()
    end = args.end or args.start
    if end < args.start:
        raise SystemExit("--to is before --from")
    spark = get_spark(conf, app_name="detak-run")
    if not args.daily:
        for j in jobs("daily"):
            _run_daily(spark, j.name, end, conf, since=args.start)
        return 0
    days = (end - args.start).days + 1
    for i in range(days):
        day = args.start + timedelta(days=i)
        for j in jobs("daily"):
            _run_daily(spark, j.name, day, conf, prefix=f"[{i + 1}/{days}] ")
    return 0


def _run_daily(
    spark: Any, name: str, day: date, conf: Any, prefix: str = "", since: date | None = None
) -> dict[str, Any]:
    import time

    from jobs.common.text import format_table
    from jobs.registry import job

    t0 = time.monotonic()
    if since is not None and since > day:
        raise SystemExit(f"--since {since} is after --date {day}")
    runs = f"{since}..{day}" if since is not None and since != day else str(day)
    print(f"{prefix}{runs} {name}: started", flush=True)
    report = job(name).load()(spark, day, conf, since=since if since != day else None)
    window = report.get("window")
    span = f" window {window[0]}..{window[1]}" if window else ""
    print(f"{prefix}{runs} {name}:{span} done in {time.monotonic() - t0:.0f}s", flush=True)
    rows = report.get("rows")
    if name == "silver" and rows:
        if since is None:
            rows = [r for r in rows if str(r["event_date"]) == str(day)]
        head = ["date", "source", "bronze rows", "duplicates", "too late", "silver rows", "bot events", "no consent"]
        cols = ["event_date", "source", "bronze_rows", "duplicates", "too_late", "silver_rows", "bot_events"]
        cols.append("no_consent_events")
        print(format_table(head, [[r[c] for c in cols] for r in rows]))
    elif isinstance(rows, dict):
        print(format_table(["table", "rows in window"], [[k, v] for k, v in rows.items()]))
    return report


def _job_args(p: argparse.ArgumentParser) -> None:
    from jobs.registry import jobs

    p.add_argument("name", choices=[j.name for j in jobs("daily")], help="daily job")
    p.add_argument("--date", type=date.fromisoformat, required=True, help="logical date, YYYY-MM-DD")
    p.add_argument(
        "--since",
        type=lambda v: date.fromisoformat(v) if v else None,
        default=None,
        help="first logical date: one run standing for the daily runs since .. --date (catch-up, backfill)",
    )


@verb("job", "run one daily job for one logical date (what each Airflow task of detak_behaviour runs)")(_job_args)
def _job(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark

    conf = settings()
    spark = get_spark(conf, app_name=f"detak-{args.name}")
    _run_daily(spark, args.name, args.date, conf, since=args.since)
    return 0


IMPORTERS = {
    "rees46": "jobs.importers:import_rees46",
    "otto": "jobs.importers:import_otto",
    "uci-retail": "jobs.importers.uci_retail:import_uci_retail",
}


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=sorted(IMPORTERS), help="input format")
    p.add_argument("file", type=Path, help="input file or folder (REES46 CSV, OTTO JSON lines, UCI Online Retail CSVs)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DETAK_HOME)")


@verb("import", "turn a public e-commerce data set into landing files of detak's contracts")(_import_args)
def _import(args: argparse.Namespace) -> int:
    import importlib

    module, _, func = IMPORTERS[args.kind].partition(":")
    out = args.out or settings().home
    summary = getattr(importlib.import_module(module), func)(args.file, out)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _no_args(p: argparse.ArgumentParser) -> None:
    pass


def _sql_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help='SQL, e.g. "SELECT * FROM gold.funnel_daily LIMIT 5"')
    p.add_argument("--target", default=None, help="warehouse target (default: warehouse.target of conf)")


@verb("sql", "query the warehouse (DuckDB file by default) where published tables live")(_sql_args)
def _sql(args: argparse.Namespace) -> int:
    from jobs.common.text import format_table
    from jobs.publish.publish import warehouse

    head, rows = warehouse(settings(), args.target).query_with_columns(args.query)
    print(format_table(head, [list(r) for r in rows]))
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=["abandonment", "purchase"], help="which model")
    p.add_argument("--until", type=date.fromisoformat, default=None, help="last day of data (abandonment)")


@verb("train", "train a model on the latest validated gold and feature tables, and record its metrics")(_train_args)
def _train(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark

    conf = settings()
    spark = get_spark(conf, app_name=f"detak-train-{args.model}")
    if args.model == "abandonment":
        from jobs.ml.abandonment import train_abandonment

        result = train_abandonment(spark, conf, args.until)
    else:
        from jobs.ml.purchase import train_purchase

        result = train_purchase(spark, conf)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _forget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", action="append", default=[], help="raw account id to erase (repeatable)")
    p.add_argument("--requests", type=Path, default=None, help="file of account ids, one per line")
    p.add_argument("--request-id", default=None, help="id to record the request under (default: generated)")


@verb("forget", "erase people from every layer, the features, the warehouse and Delta history")(_forget_args)
def _forget(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark
    from jobs.maintenance.forget import forget_users

    if not args.user and args.requests is None:
        raise SystemExit("give --user ID (repeatable) or --requests FILE")
    conf = settings()
    spark = get_spark(conf, app_name="detak-forget")
    result = forget_users(spark, conf, user_ids=args.user, request_file=args.requests, request_id=args.request_id)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _maintain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--today", type=date.fromisoformat, default=None, help="date retention counts from (default: today)")


@verb("maintain", "forget again, retention, OPTIMIZE with Z-order and VACUUM on every lake table")(_maintain_args)
def _maintain(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark
    from jobs.maintenance.housekeeping import run_maintenance

    conf = settings()
    result = run_maintenance(get_spark(conf, app_name="detak-maintain"), conf, today=args.today)
    print(json.dumps(result, indent=2, default=str))
    return 0


@verb("prefetch", "resolve Spark's jars (Delta, JDBC) into the local cache once, for offline runs")(_no_args)
def _prefetch(args: argparse.Namespace) -> int:
    import tempfile

    from jobs.common.spark import get_spark

    conf = settings()
    spark = get_spark(conf, app_name="detak-prefetch")
    with tempfile.TemporaryDirectory() as tmp:
        # Touch Delta once so a missing or mismatched jar fails here, not in the first real job.
        spark.range(1).write.format("delta").save(f"{tmp}/probe")
        rows = spark.read.format("delta").load(f"{tmp}/probe").count()
    spark.stop()
    print(f"Spark jars cached in {conf['spark']['ivy_cache']} (Delta probe read {rows} row)")
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", type=date.fromisoformat, default=None, help="first date (default: first)")
    p.add_argument("--to", dest="end", type=date.fromisoformat, default=None, help="last date (default: last)")
    p.add_argument("--out", type=Path, default=None, help="HTML file (default: <home>/reports/behaviour.html)")
    p.add_argument("--target", default=None, help="warehouse target (default: warehouse.target of conf)")


@verb("report", "write the HTML behaviour report (charts and a per-day summary) from the warehouse")(_report_args)
def _report(args: argparse.Namespace) -> int:
    from jobs.report import build_report, format_summary

    out, summary = build_report(settings(), args.out, args.start, args.end, target=args.target)
    print(format_summary(summary))
    print(f"Report: {out.as_uri()}")
    return 0


def _catalogue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true", help="only say whether docs/tables.md is current (exit 1 if not)")


@verb("catalogue", "write docs/tables.md, the table catalogue, from the table contracts")(_catalogue_args)
def _catalogue(args: argparse.Namespace) -> int:
    from jobs.common.catalogue import main as catalogue

    return catalogue(["--check"] if args.check else [])


@verb("demo", "a week around 11.11 through Airflow into the warehouse: per-day summary and HTML report")(_no_args)
def _demo(args: argparse.Namespace) -> int:
    from jobs.demo import demo

    return demo()


def _airflow_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("airflow_args", nargs=argparse.REMAINDER, help="arguments for the airflow command")


@verb("airflow", "run the airflow command on detak's DAGs, home and Spark connection")(_airflow_args)
def _airflow(args: argparse.Namespace) -> int:
    import os
    import shutil

    from jobs.orchestration.airflow import airflow_environ

    env = airflow_environ(settings())
    exe = shutil.which("airflow", path=env["PATH"])
    if exe is None:
        raise SystemExit("airflow is not installed in this environment")
    os.execve(exe, [exe, *args.airflow_args], env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detak", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="verb", required=True)
    for name, (handler, add_args, help_text) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
