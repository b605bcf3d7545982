"""detak's verbs: what each ``detak <verb>`` does, and the dispatch that runs one.

Each verb is a thin wrapper over a job. The CLI (jobs.cli) and Airflow's in-process task runner
(jobs.orchestration.airflow.run_cli) both call :func:`dispatch`, so a task runs exactly what the
command line runs; this module never imports the CLI. Mistakes in the command line or in what it
names raise :class:`~jobs.common.errors.UserError`; jobs.cli turns those into one line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from jobs.common.config import settings
from jobs.common.errors import UsageError, UserError

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


def iso_date(text: str) -> date:
    """An argparse type: a calendar date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def optional_iso_date(text: str) -> date | None:
    """:func:`iso_date`, or None for an empty string (what Airflow renders for an unset param)."""
    return iso_date(text) if text else None


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DETAK_HOME)")
    p.add_argument("--start", type=iso_date, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: simulator.workers in conf)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--force", action="store_true", help="replace the landing files and truth already in --out")


def _refuse_to_replace(out: Path, kind: str) -> None:
    """Landing files already in ``out`` may have been ingested under their names: a new file of the
    same name would never be read. Replacing them is asked for with ``--force``."""
    landing = out / "landing"
    held = sorted(p for p in landing.glob("*/date=*/**/*") if p.is_file()) if landing.is_dir() else []
    if held:
        raise UserError(
            f"{landing} already holds {len(held)} landing files: {kind} would replace files that may have been "
            "ingested under the same names; give --force to replace them, or another --out"
        )


@verb("generate", "simulate a marketplace's landing files and their ground truth")(_generate_args)
def _generate(args: argparse.Namespace) -> int:
    from jobs.simulate import generate

    out = args.out or settings().home
    if not args.force:
        _refuse_to_replace(out, "generate")
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
    from jobs.common.contracts import event_sources

    p.add_argument(
        "--source", action="append", choices=event_sources(), help="source to ingest (repeatable; default: all)"
    )
    p.add_argument("--run-id", default=None, help="id recorded with every row (Airflow passes its run id)")
    p.add_argument(
        "--every",
        type=interval,
        default=None,
        help="keep running, a micro-batch each interval (e.g. '5 minutes'); default: ingest what is there, then stop",
    )


def interval(text: str) -> str:
    """An argparse type: a trigger interval such as ``30 seconds`` or ``5 minutes``."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not an interval (e.g. '30 seconds', '5 minutes', '1 hour')")
    unit = {"s": "seconds", "m": "minutes", "h": "hours"}[m.group(2)[0]]
    return f"{int(m.group(1))} {unit}"


@verb("ingest", "ingest new landing files (or Kafka records) into bronze Delta tables, exactly once")(_ingest_args)
def _ingest(args: argparse.Namespace) -> int:
    from jobs.bronze.ingest import format_reports, new_run_id, run_ingest
    from jobs.common.lineage import job_run
    from jobs.common.spark import get_spark
    from jobs.registry import job

    conf = settings()
    sources = args.source or list(conf["ingest"]["sources"])
    spark = get_spark(conf, app_name="detak-ingest")
    if args.every:
        print(format_reports(run_ingest(spark, sources, conf, run_id=args.run_id, every=args.every)))
        return 0
    reports = []
    run_id = args.run_id or new_run_id()  # one run for every source, as when they go together
    for i, source in enumerate(sources):
        # One OpenLineage run per source: the registry's job ingest_<source>, landing folder to bronze.
        declared = job(f"ingest_{source}")
        with job_run(conf, declared.name, declared.inputs, declared.outputs, run_id):
            reports += run_ingest(spark, [source], conf, run_id=run_id, warn_unknown=i == 0)
    print(format_reports(reports))
    return 0


def _produce_args(p: argparse.ArgumentParser) -> None:
    from jobs.common.contracts import event_sources

    p.add_argument("--source", required=True, choices=event_sources(), help="whose landing files to replay")
    p.add_argument("--topic", default=None, help="topic (default: ingest.kafka.topics, else topic_prefix + source)")


@verb("produce", "replay a source's landing files into a Kafka topic, one record per line (tests, demos)")(
    _produce_args
)
def _produce(args: argparse.Namespace) -> int:
    from jobs.bronze.kafka import produce
    from jobs.common.spark import get_spark

    conf = settings()
    topic, sent = produce(get_spark(conf, app_name="detak-produce"), args.source, conf, topic=args.topic)
    print(f"{sent} lines of {args.source} sent to topic {topic} at {conf['ingest']['kafka']['bootstrap_servers']}")
    return 0


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None, help="listener port (default: ingest.kafka.broker.port)")
    p.add_argument("--dir", type=Path, default=None, help="data folder (default: <home>/kafka)")


@verb("broker", "run a single-node Kafka broker on loopback until Ctrl-C (tests, demos; not production)")(_broker_args)
def _broker(args: argparse.Namespace) -> int:
    import time

    from jobs.common.kafka_broker import Broker

    conf = settings()
    broker = Broker(conf, args.dir or Path(conf.home) / "kafka", port=args.port).start()
    print(f"Kafka broker listening on {broker.bootstrap} (log: {broker.log_file}); stop with Ctrl-C", flush=True)
    try:
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--to",
        "--date",
        dest="end",
        type=iso_date,
        default=None,
        help="run date (default: today, UTC): dates after it wait for a later run",
    )
    p.add_argument(
        "--from",
        dest="start",
        type=iso_date,
        default=None,
        help="also rebuild every date from this one to the run date (a backfill after a change of rules)",
    )
    p.add_argument(
        "--daily", action="store_true",
        help="one run per date from --from to --to, as the scheduler makes them (each does what is new)",
    )  # fmt: skip


@verb("run", "run the daily pipeline (silver → gold → features → gate → publish) on what is new")(_run_args)
def _run(args: argparse.Namespace) -> int:
    """Without Airflow. Each job rewrites the dates its inputs changed since its last run, so one run
    catches up whatever was ingested since, however long ago; ``--from`` also rebuilds a range."""
    from datetime import UTC, datetime, timedelta

    from jobs.common.spark import get_spark
    from jobs.registry import jobs

    conf = settings()
    end = args.end or datetime.now(UTC).date()
    if args.start is not None and end < args.start:
        raise UserError(f"--to {end} is before --from {args.start}")
    from jobs.silver.privacy import require_key

    require_key(conf)  # before Spark starts
    spark = get_spark(conf, app_name="detak-run")
    if not args.daily:
        for j in jobs("daily"):
            _run_daily(spark, j.name, end, conf, since=args.start)
        return 0
    first = args.start or end
    days = (end - first).days + 1
    for i in range(days):
        day = first + timedelta(days=i)
        for j in jobs("daily"):
            _run_daily(spark, j.name, day, conf, prefix=f"[{i + 1}/{days}] ")
    return 0


def _run_daily(
    spark: Any, name: str, day: date, conf: Any, prefix: str = "", since: date | None = None
) -> dict[str, Any]:
    import time

    from jobs.common.text import format_table
    from jobs.registry import run

    t0 = time.monotonic()
    if since is not None and since > day:
        raise UserError(f"--since {since} is after --date {day}")
    runs = f"{day} (rebuilding from {since})" if since is not None else str(day)
    print(f"{prefix}{runs} {name}: started", flush=True)
    report = run(name, spark, day, conf, since=since)
    what = " nothing new" if report.get("noop") else (f" dates {report['dates']}" if report.get("dates") else "")
    print(f"{prefix}{runs} {name}:{what} done in {time.monotonic() - t0:.0f}s", flush=True)
    rows = report.get("rows")
    if name == "silver" and rows:
        head = ["date", "source", "bronze rows", "duplicates", "too late", "silver rows", "bot events", "no consent"]
        cols = ["event_date", "source", "bronze_rows", "duplicates", "too_late", "silver_rows", "bot_events"]
        cols.append("no_consent_events")
        print(format_table(head, [[r[c] for c in cols] for r in rows]))
    elif isinstance(rows, dict) and rows:
        print(format_table(["table", "rows in rewritten dates"], [[k, v] for k, v in rows.items()]))
    return report


def _job_args(p: argparse.ArgumentParser) -> None:
    from jobs.registry import jobs

    p.add_argument(
        "name",
        choices=[j.name for j in jobs() if j.group != "ingest"],
        help="daily job (detak_behaviour's or forecast)",
    )
    p.add_argument("--date", type=iso_date, required=True, help="logical date, YYYY-MM-DD")
    p.add_argument(
        "--since",
        type=optional_iso_date,
        default=None,
        help="also rebuild every date from this one to --date (a backfill after a change of rules)",
    )


@verb("job", "run one daily job for one logical date (what each Airflow task of detak_behaviour runs)")(_job_args)
def _job(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark

    if args.since is not None and args.since > args.date:
        raise UserError(f"--since {args.since} is after --date {args.date}")
    conf = settings()
    if args.name == "silver":
        from jobs.silver.privacy import require_key

        require_key(conf)  # before Spark starts: silver pseudonymises
    spark = get_spark(conf, app_name=f"detak-{args.name}")
    _run_daily(spark, args.name, args.date, conf, since=args.since)
    return 0


def _live_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", type=iso_date, default=None, help="run date (default: today, UTC): dates after it wait")
    p.add_argument("--run-id", default=None, help="id recorded with the run (Airflow passes its run id)")


@verb(
    "live",
    "refresh the campaign and threat tables (and the threat feed) from what reached bronze since the last "
    "refresh, then gate and publish them: the near-real-time path, what detak_live runs",
)(_live_args)
def _live(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from jobs.common.spark import get_spark
    from jobs.registry import run_live
    from jobs.silver.privacy import require_key

    conf = settings()
    require_key(conf)  # before Spark starts: silver pseudonymises
    spark = get_spark(conf, app_name="detak-live")
    day = args.date or datetime.now(UTC).date()
    run_live(spark, day, conf, run_id=args.run_id, echo=lambda line: print(line, flush=True))
    return 0


IMPORTERS = {
    "rees46": "jobs.importers:import_rees46",
    "otto": "jobs.importers:import_otto",
    "uci-retail": "jobs.importers.uci_retail:import_uci_retail",
    "prdect-id": "jobs.importers.prdect_id:import_prdect_id",
}


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=sorted(IMPORTERS), help="input format")
    p.add_argument("file", type=Path, help="input file or folder (REES46 CSV, OTTO JSON lines, UCI Online Retail CSVs)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DETAK_HOME)")
    p.add_argument("--force", action="store_true", help="write into --out even when it holds landing files")


@verb("import", "turn a public e-commerce data set into landing files of detak's contracts")(_import_args)
def _import(args: argparse.Namespace) -> int:
    import importlib

    module, _, func = IMPORTERS[args.kind].partition(":")
    out = args.out or settings().home
    if not args.force:
        _refuse_to_replace(out, "import")
    summary = getattr(importlib.import_module(module), func)(args.file, out)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _no_args(p: argparse.ArgumentParser) -> None:
    pass


@verb("reconcile", "account for every landing line and bronze row, over every date (exit 1 on a mismatch)")(_no_args)
def _reconcile(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark
    from jobs.common.text import format_table
    from jobs.silver.reconcile import reconcile

    result = reconcile(get_spark(settings(), app_name="detak-reconcile"), settings())
    head = ["date", "source", "bronze rows", "silver rows", "duplicates", "too late", "status"]
    print(format_table(head, [[r["event_date"], r["source"], r["bronze_rows"], r["silver_rows"], r["duplicates"],
                              r["too_late"], r["status"]] for r in result.rows]))  # fmt: skip
    late = [r for r in result.rows if r["too_late"]]
    if late:
        print("events too late for silver (kept in bronze): " + ", ".join(
            f"{r['event_date']} {r['source']} {r['too_late']}" for r in late))  # fmt: skip
    if result.pending:
        print("bronze rows not processed by silver yet: " + ", ".join(
            f"{r['event_date']} {r['source']} {r['bronze_rows']}" for r in result.pending))  # fmt: skip
    f = result.files
    print(
        f"landing files: {f.get('files', 0)} ingested ({f.get('files_quarantined', 0)} unreadable, "
        f"{f.get('repeated', 0)} re-deliveries); lines {f.get('lines', 0)} = {f.get('valid', 0)} bronze + "
        f"{f.get('quarantined', 0)} quarantined"
        + ("" if not f.get("unbalanced") else f"; {f['unbalanced']} FILES DO NOT BALANCE")
    )
    for bad in result.unreadable_files:
        print(f"  unreadable: {bad['source']} {bad['path']} ({bad['size']} bytes): {bad['reason']}: {bad['error']}")
    if result.mismatches:
        print(f"{len(result.mismatches)} dates do not reconcile")
        return 1
    return 0


def _sql_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help='SQL, e.g. "SELECT * FROM gold.funnel_daily LIMIT 5"')
    p.add_argument("--target", default=None, help="warehouse target (default: warehouse.target of conf)")


@verb("sql", "query the warehouse (DuckDB file by default) where published tables live")(_sql_args)
def _sql(args: argparse.Namespace) -> int:
    import duckdb
    import psycopg

    from jobs.common.text import format_table
    from jobs.publish.warehouse import warehouse

    wh = warehouse(settings(), args.target)
    try:
        head, rows = wh.query_with_columns(args.query, as_reader=True)
    except (duckdb.ProgrammingError, duckdb.PermissionException, duckdb.InvalidInputException,
            psycopg.ProgrammingError, psycopg.errors.ReadOnlySqlTransaction) as e:  # fmt: skip
        # Errors in the query itself (syntax, unknown table or column, a write or a file access that
        # the read-only, locked connection refuses) are the user's to fix.
        raise UserError(f"query failed: {(str(e).strip().splitlines() or [type(e).__name__])[0]}") from e
    print(format_table(head, [list(r) for r in rows]))
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=["abandonment", "purchase"], help="which model")
    p.add_argument("--until", type=iso_date, default=None, help="last day of data (abandonment)")


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
        raise UserError("give --user ID (repeatable) or --requests FILE")
    if args.requests is not None and not args.requests.is_file():
        raise UserError(f"--requests {args.requests}: no such file")
    conf = settings()
    from jobs.silver.privacy import require_key

    require_key(conf)  # before Spark starts
    spark = get_spark(conf, app_name="detak-forget")
    print("forget: started", flush=True)
    result = forget_users(spark, conf, user_ids=args.user, request_file=args.requests, request_id=args.request_id)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _rotate_key_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-publish", action="store_true", help="leave the gate and publish of the rewritten dates to the next run"
    )


@verb("rotate-key", "re-pseudonymise the lake under a new key (DETAK_NEW_PSEUDONYM_KEY); resumable")(_rotate_key_args)
def _rotate_key(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark
    from jobs.maintenance.rotate_key import new_key, rotate_key
    from jobs.silver.privacy import pseudonym_key

    conf = settings()
    new = new_key(conf)  # both before Spark starts
    old = pseudonym_key(conf)
    spark = get_spark(conf, app_name="detak-rotate-key")
    print("rotate-key: started", flush=True)
    result = rotate_key(spark, conf, old, new)
    day = result["republish_date"]
    if day is not None and not args.no_publish:
        from jobs.registry import run

        # The rotation recorded every gold and feature date as rewritten: gate and publish them now.
        result["gate"] = run("quality_gate", spark, day, conf)
        result["publish"] = run("publish", spark, day, conf)
    print(json.dumps(result, indent=2, default=str))
    names = conf["silver"]["privacy"]
    print(
        f"rotate-key: done. Set {names['key_env']} to the new key everywhere jobs run, unset "
        f"{names['new_key_env']}, and destroy the old key.",
        flush=True,
    )
    return 0


def _maintain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--today", type=iso_date, default=None, help="date retention counts from (default: today)")


@verb("maintain", "forget again, retention, OPTIMIZE with Z-order and VACUUM on every lake table")(_maintain_args)
def _maintain(args: argparse.Namespace) -> int:
    from jobs.common.spark import get_spark
    from jobs.maintenance.housekeeping import run_maintenance

    conf = settings()
    result = run_maintenance(get_spark(conf, app_name="detak-maintain"), conf, today=args.today)
    print(json.dumps(result, indent=2, default=str))
    return 0


@verb(
    "prefetch",
    "resolve Spark's jars (Delta, JDBC, Kafka) and the Kafka broker's into the local cache once, for offline runs",
)(_no_args)
def _prefetch(args: argparse.Namespace) -> int:
    import tempfile

    from jobs.common.kafka_broker import fetch_jars
    from jobs.common.spark import get_spark, save_resolved_jars

    conf = settings()
    spark = get_spark(conf, app_name="detak-prefetch", resolve=True)
    jars = [j for j in spark.sparkContext.getConf().get("spark.jars", "").split(",") if j]
    with tempfile.TemporaryDirectory() as tmp:
        # Touch Delta once so a missing or mismatched jar fails here, not in the first real job.
        spark.range(1).write.format("delta").save(f"{tmp}/probe")
        rows = spark.read.format("delta").load(f"{tmp}/probe").count()
    spark.stop()
    listed = save_resolved_jars(conf, jars)
    print(f"Spark jars cached in {conf['spark']['ivy_cache']}, {len(jars)} listed in {listed}; Delta read {rows} row")
    broker = fetch_jars(conf)
    print(f"Kafka broker jars in {broker} ({sum(1 for _ in broker.glob('*.jar'))} jars)")
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", type=iso_date, default=None, help="first date (default: first)")
    p.add_argument("--to", dest="end", type=iso_date, default=None, help="last date (default: last)")
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


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def version() -> str:
    """The installed package's version (pyproject.toml's, through the package metadata)."""
    try:
        return metadata.version("detak")
    except metadata.PackageNotFoundError:  # a checkout on PYTHONPATH that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="detak",
        description="detak: customer-behaviour analytics for e-commerce, from clickstream to warehouse.",
        epilog="detak VERB --help describes a verb's arguments.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress; show the traceback of an error")
    parser.add_argument("--version", action="version", version=f"detak {version()}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (handler, add_args, help_text) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # -v after the verb too (a REMAINDER argument, as airflow's, keeps what follows it).
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed command line; :class:`UsageError` when it does not parse."""
    return build_parser().parse_args(list(argv))


def run(args: argparse.Namespace) -> int:
    """Run a parsed command line's verb; its exit status."""
    return int(args.handler(args))


def dispatch(argv: Sequence[str]) -> int:
    """Run ``detak <argv>`` in this process and return its exit status; errors propagate."""
    return run(parse(argv))
