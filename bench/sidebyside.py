"""detak's Spark stages side by side with DuckDB doing the same work on the same landing files.

``python bench/sidebyside.py [--users N] [--days D] [--label L]`` simulates a fresh home
(``detak generate``), then times, each in its own process and in this order:

- ``ingest``: detak's ``python -m jobs ingest`` against DuckDB reading every landing
  ``*.jsonl.gz`` line into typed Parquet partitioned by event date, with the contract's columns,
  and the lines it cannot type into a quarantine file (every line counted, valid or rejected);
- ``silver``: ``python -m jobs job silver`` (the whole silver job) against DuckDB's 30-minute
  inactivity sessions per anonymous_id over silver.events (the Parquet files of its current Delta
  snapshot), written to Parquet: the one step of silver DuckDB does here;
- ``gold browsing``: ``python -m jobs job gold_browsing`` (eight tables) against DuckDB's funnel,
  the SQL of the gold cross-check test (tests/gold/test_browsing_daily.py) over the silver tables'
  current files, with the session facts it needs.

The detak side runs through the CLI, so the bench follows the jobs wherever they change. Each
process's peak memory is read from /proc (VmHWM of the driver's JVM and of every Python process);
the driver's peak heap use from its garbage-collection log. ``make bench`` runs it twice (a small
size and the demo's week) through bench/run.py's ``sidebyside`` section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The demo's week (jobs/demo.py): 20,000 users, Nov 8-14 with 11.11.
START = date(2026, 11, 8)
SIZES = {"small": (2_000, 2), "demo": (20_000, 7)}
SEED = 1111
PY = sys.executable


# --------------------------------------------------------------------------------------------
# Measuring a process tree: wall time, peak RSS per kind of process, the JVM's peak heap use.


@dataclass
class Measured:
    seconds: float
    stdout: str
    jvm_rss_mb: float = 0.0
    python_rss_mb: float = 0.0
    python_workers_rss_mb: float = 0.0
    heap_used_mb: float = 0.0
    heap_committed_mb: float = 0.0
    #: CPU seconds (user + system) of the whole process tree: unlike wall time, about the same
    #: whether or not other work shares the machine's cores.
    cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += tree.get(p, [])
    return out


def _peak_rss_mb(pid: int) -> tuple[str, float]:
    """(kind, VmHWM in MiB) of a process: ``jvm``, ``python`` or ``other``."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "other", 0.0
    hwm = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM")), 0.0)
    kind = "jvm" if exe.endswith("/java") else "python" if "python" in Path(exe).name else "other"
    return kind, hwm


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def run_measured(argv: list[str], env: dict[str, str], gc_log: Path | None = None) -> Measured:
    """Run ``argv``; sample its process tree's peak RSS and CPU time every 0.2 s until it exits."""
    peaks: dict[int, tuple[str, float]] = {}
    cpu: dict[int, float] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in _descendants(proc.pid):
                kind, hwm = _peak_rss_mb(pid)
                if hwm >= peaks.get(pid, ("", 0.0))[1]:
                    peaks[pid] = (kind, hwm)
                if pid != proc.pid:
                    cpu[pid] = max(cpu.get(pid, 0.0), _cpu_s(pid))
            done.wait(0.2)

    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The direct child exactly (it was waited for); its descendants as last sampled, unless they
    # were waited for by it (then already inside its figure).
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{out[-4000:]}")
    m = Measured(seconds=seconds, stdout=out)
    m.cpu_s = max(own, sum(cpu.values()))
    m.jvm_rss_mb = max((v for k, v in peaks.values() if k == "jvm"), default=0.0)
    pythons = [(pid, v) for pid, (k, v) in peaks.items() if k == "python"]
    m.python_rss_mb = next((v for pid, v in pythons if pid == proc.pid), 0.0)
    m.python_workers_rss_mb = max((v for pid, v in pythons if pid != proc.pid), default=0.0)
    if gc_log is not None and gc_log.exists():
        m.heap_used_mb, m.heap_committed_mb = heap_from_gc_log(gc_log.read_text())
    return m


_UNITS = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}


def heap_from_gc_log(text: str) -> tuple[float, float]:
    """(peak heap used before a collection, peak heap committed) in MiB from a ``-Xlog:gc`` file."""
    used = committed = 0.0
    for m in re.finditer(r"(\d+)([KMG])->(\d+)([KMG])\((\d+)([KMG])\)", text):
        used = max(used, int(m.group(1)) * _UNITS[m.group(2)])
        committed = max(committed, int(m.group(5)) * _UNITS[m.group(6)])
    return used, committed


# --------------------------------------------------------------------------------------------
# detak's side: the CLI in a fresh process, on the bench home.


def detak_env(home: Path, gc_log: Path | None = None) -> dict[str, str]:
    from jobs.common.config import load_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("DETAK__")}
    env.update({"DETAK_HOME": str(home), "DETAK_ENV": "local", "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": "127.0.0.1"})
    env["DETAK__SPARK__UI"] = "false"
    env["DETAK__SPARK__PROGRESS_BAR"] = "false"
    if gc_log is not None:
        conf = load_settings("local", environ={"DETAK_HOME": str(home)})
        opts = conf["spark"]["conf"].get("spark.driver.extraJavaOptions", "")
        env["DETAK__SPARK__CONF"] = json.dumps(
            {"spark.driver.extraJavaOptions": f"{opts} -Xlog:gc:file={gc_log}".strip()}
        )
    return env


def detak(home: Path, name: str, args: list[str]) -> Measured:
    logs = home / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    gc_log = logs / f"{name}.gc.log"
    gc_log.unlink(missing_ok=True)
    m = run_measured([PY, "-m", "jobs", *args], detak_env(home, gc_log), gc_log)
    (logs / f"{name}.out").write_text(m.stdout)
    job = re.search(r"done in (\d+)s", m.stdout)
    m.extra["job_s"] = float(job.group(1)) if job else None
    return m


# --------------------------------------------------------------------------------------------
# DuckDB's side: each stage in its own process (``python bench/sidebyside.py duckdb-STAGE ...``).


def duck_type(dt: Any) -> str:
    """The DuckDB type of a Spark type from a table contract."""
    from pyspark.sql import types as T

    simple = {
        T.StringType: "VARCHAR",
        T.LongType: "BIGINT",
        T.IntegerType: "INTEGER",
        T.DoubleType: "DOUBLE",
        T.BooleanType: "BOOLEAN",
        T.TimestampType: "TIMESTAMPTZ",
        T.TimestampNTZType: "TIMESTAMP",
        T.DateType: "DATE",
    }
    for cls, name in simple.items():
        if isinstance(dt, cls):
            return name
    if isinstance(dt, T.ArrayType):
        return f"{duck_type(dt.elementType)}[]"
    if isinstance(dt, T.MapType):
        return f"MAP({duck_type(dt.keyType)}, {duck_type(dt.valueType)})"
    if isinstance(dt, T.StructType):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duck_type(f.dataType)}' for f in dt.fields) + ")"
    raise ValueError(f"no DuckDB type for {dt}")


def duckdb_ingest(home: Path, out: Path) -> dict[str, Any]:
    """Landing JSON lines → typed Parquet by event_date per source, plus quarantined lines; counts."""
    import duckdb

    from jobs.common.config import load_settings
    from jobs.common.contracts import source_contract, table

    conf = load_settings("local", environ={"DETAK_HOME": str(home)})
    max_bytes = int(conf["ingest"]["max_line_bytes"])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    counts: dict[str, dict[str, int]] = {}
    t0 = time.perf_counter()
    for source in conf["ingest"]["sources"]:
        fields = [f for f in table(f"bronze.{source}_events").spark_schema.fields
                  if not f.name.startswith("_") and f.name != "event_date"]  # fmt: skip
        structure = "STRUCT(" + ", ".join(f'"{f.name}" {duck_type(f.dataType)}' for f in fields) + ")"
        # Each event type's required fields (its JSON Schema with the envelope's): a CASE per type,
        # so an unknown event type is invalid too.
        contract = source_contract(source)
        required = (
            "CASE j.event_type "
            + " ".join(
                f"WHEN '{name}' THEN " + (" AND ".join(f'j."{c}" IS NOT NULL' for c in et.required) or "true")
                for name, et in contract.event_types.items()
            )
            + " ELSE false END"
        )
        files = f"{home}/landing/{source}/*/*/*.jsonl.gz"
        # Every line as text (no quoting, no delimiter), then typed by the contract: a line that
        # is not JSON, too long, of an unknown type or missing a required field is quarantined.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE typed AS
            WITH raw AS (
              SELECT line, filename FROM read_csv('{files}', columns = {{'line': 'VARCHAR'}}, header = false,
                delim = '\\x01', quote = '', escape = '', auto_detect = false, filename = true,
                max_line_size = 20000000)
            ), parsed AS (
              SELECT line, filename, strlen(line) <= {max_bytes} AND coalesce(json_valid(line), false) AS ok
              FROM raw
            )
            SELECT line, filename,
                   CASE WHEN ok THEN try_cast(CAST(line AS JSON) AS {structure}) END AS j
            FROM parsed
        """)  # fmt: skip
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE checked AS
            SELECT *, j IS NOT NULL AND coalesce({required}, false) AS valid FROM typed
        """)
        con.execute(f"""
            COPY (SELECT j.*, CAST(j.event_time AS DATE) AS event_date, filename AS _source_file
                  FROM checked WHERE valid)
            TO '{out}/{source}' (FORMAT parquet, PARTITION_BY (event_date))
        """)
        con.execute(f"""
            COPY (SELECT '{source}' AS source, line, filename AS _source_file FROM checked WHERE NOT valid)
            TO '{out}/quarantine_{source}.parquet' (FORMAT parquet)
        """)
        total, valid = con.execute("SELECT count(*), count_if(valid) FROM checked").fetchone()  # type: ignore[misc]
        counts[source] = {"lines": total, "valid": valid, "rejected": total - valid}
    seconds = time.perf_counter() - t0
    lines = sum(c["lines"] for c in counts.values())
    return {"seconds": seconds, "lines": lines, "by_source": counts}


def current_files(home: Path, names: list[str], out: Path) -> None:
    """The Parquet files of each Delta table's current snapshot (one Spark session, not timed)."""
    from delta.tables import DeltaTable

    from jobs.common.config import load_settings
    from jobs.common.spark import get_spark
    from jobs.common.tables import table_path

    conf = load_settings(
        "local", environ={"DETAK_HOME": str(home)}, overrides={"spark": {"ui": False, "progress_bar": False}}
    )
    spark = get_spark(conf, app_name="detak-bench-files")
    files = {n: sorted(DeltaTable.forPath(spark, table_path(n, conf)).toDF().inputFiles()) for n in names}
    spark.stop()
    out.write_text(json.dumps({n: [f.removeprefix("file://") for f in fs] for n, fs in files.items()}))


def _views(con: Any, files: dict[str, list[str]]) -> None:
    for name, paths in files.items():
        listed = ", ".join(f"'{p}'" for p in paths)
        con.execute(
            f"CREATE VIEW {name.replace('.', '_')} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true)"
        )


def duckdb_sessions(files_json: Path, out: Path, timeout_minutes: int) -> dict[str, Any]:
    """30-minute inactivity sessions per anonymous_id over silver.events, written to Parquet."""
    import duckdb

    files = json.loads(files_json.read_text())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _views(con, {"silver.events": files["silver.events"]})
    t0 = time.perf_counter()
    con.execute(f"""
        COPY (
          WITH gaps AS (
            SELECT anonymous_id, event_time,
                   CASE WHEN event_time - lag(event_time) OVER w <= INTERVAL {timeout_minutes} MINUTE
                        THEN 0 ELSE 1 END AS starts
            FROM silver_events WINDOW w AS (PARTITION BY anonymous_id ORDER BY event_time)
          ), numbered AS (
            SELECT *, sum(starts) OVER (PARTITION BY anonymous_id ORDER BY event_time
                                        ROWS UNBOUNDED PRECEDING) AS n
            FROM gaps
          )
          SELECT anonymous_id, n AS session_number, min(event_time) AS session_start,
                 max(event_time) AS session_end, count(*) AS events
          FROM numbered GROUP BY anonymous_id, n
        ) TO '{out}' (FORMAT parquet)
    """)
    seconds = time.perf_counter() - t0
    sessions = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]  # type: ignore[index]
    return {"seconds": seconds, "sessions": sessions}


def duckdb_funnel(files_json: Path, out: Path) -> dict[str, Any]:
    """The funnel of the gold cross-check test (its SQL), with the session facts it reads, to Parquet."""
    import duckdb

    from tests.gold.test_browsing_daily import FUNNEL, SCOPE

    files = json.loads(files_json.read_text())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _views(con, {n: files[n] for n in ("silver.events", "silver.sessions", "silver.orders")})
    t0 = time.perf_counter()
    # The two session-fact columns the funnel reads, as the session-facts cross-check computes them.
    con.execute(
        "CREATE TEMP TABLE gold_session_facts AS "
        + SCOPE
        + """
        SELECT s.session_id,
          coalesce(arg_min(e.top_category, (e.event_time, e.event_id))
                   FILTER (WHERE e.event_type IN ('product_view', 'add_to_cart') AND e.top_category IS NOT NULL),
                   '(none)') AS top_category,
          (SELECT coalesce(sum(total), 0) FROM o WHERE o.session_id = s.session_id) AS revenue
        FROM s LEFT JOIN e USING (session_id) GROUP BY ALL
        """
    )
    con.execute(f"COPY ({FUNNEL}) TO '{out}' (FORMAT parquet)")
    seconds = time.perf_counter() - t0
    steps = con.execute(f"SELECT step_index, sum(sessions) FROM read_parquet('{out}') GROUP BY 1 ORDER BY 1").fetchall()
    return {"seconds": seconds, "sessions_by_step": [int(n) for _, n in steps]}


def duckdb(stage: str, *args: str) -> Measured:
    m = run_measured([PY, str(Path(__file__)), f"duckdb-{stage}", *args], {**os.environ, "PYTHONPATH": str(ROOT)})
    m.extra.update(json.loads(m.stdout.strip().splitlines()[-1]))
    return m


# --------------------------------------------------------------------------------------------
# One side-by-side run.


def checks(home: Path, files_json: Path) -> dict[str, Any]:
    """detak's own counts to set beside DuckDB's: bronze and quarantine lines, sessions, funnel steps."""
    import duckdb

    files = json.loads(files_json.read_text())
    con = duckdb.connect()
    _views(con, files)
    bronze = sum(con.execute(f"SELECT count(*) FROM bronze_{s}_events").fetchone()[0]  # type: ignore[index]
                 for s in ("clickstream", "search", "orders"))  # fmt: skip
    quarantine = con.execute("SELECT count(*) FROM bronze_quarantine").fetchone()[0]  # type: ignore[index]
    sessions = con.execute("SELECT count(*) FROM silver_sessions").fetchone()[0]  # type: ignore[index]
    steps = con.execute("SELECT step_index, sum(sessions) FROM gold_funnel_daily GROUP BY 1 ORDER BY 1").fetchall()
    return {"bronze_rows": bronze, "quarantine_rows": quarantine, "sessions": sessions,
            "funnel_sessions_by_step": [int(n) for _, n in steps]}  # fmt: skip


def side_by_side(users: int, days: int, label: str, home: Path | None = None) -> dict[str, Any]:
    """Simulate ``users`` × ``days`` from the demo's start and time both sides stage by stage."""
    from jobs.common.config import load_settings

    home = home or ROOT / "var" / f"bench-sbs-{label}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    last = START + timedelta(days=days - 1)
    env = detak_env(home)
    t0 = time.perf_counter()
    gen = subprocess.run(
        [PY, "-m", "jobs", "generate", "--out", str(home), "--start", str(START), "--days", str(days),
         "--users", str(users), "--seed", str(SEED), "--no-progress"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = json.loads(gen.stdout[gen.stdout.index("{") :])
    print(f"[{label}] simulated {summary['lines_total']:,} lines in {time.perf_counter() - t0:.0f}s", flush=True)

    startup = detak(home, "startup", ["prefetch"])
    print(f"[{label}] Spark start-up (detak prefetch): {startup.seconds:.1f}s", flush=True)
    stages: dict[str, dict[str, Measured]] = {}

    stages["ingest"] = {"detak": detak(home, "ingest", ["ingest"])}
    stages["ingest"]["duckdb"] = duckdb("ingest", str(home), str(home / "duckdb" / "bronze"))
    print(f"[{label}] ingest: detak {stages['ingest']['detak'].seconds:.1f}s, "
          f"duckdb {stages['ingest']['duckdb'].seconds:.1f}s", flush=True)  # fmt: skip

    since = ["--date", str(last), "--since", str(START)]
    stages["silver"] = {"detak": detak(home, "silver", ["job", "silver", *since])}
    files_json = home / "duckdb" / "silver-files.json"
    current_files(home, ["silver.events"], files_json)
    timeout = int(load_settings("local", environ={"DETAK_HOME": str(home)})["silver"]["sessions"]["timeout_minutes"])
    stages["silver"]["duckdb"] = duckdb("sessions", str(files_json), str(home / "duckdb" / "sessions.parquet"),
                                        str(timeout))  # fmt: skip
    print(f"[{label}] silver: detak {stages['silver']['detak'].seconds:.1f}s, "
          f"duckdb sessions {stages['silver']['duckdb'].seconds:.1f}s", flush=True)  # fmt: skip

    stages["gold browsing"] = {"detak": detak(home, "gold_browsing", ["job", "gold_browsing", *since])}
    all_files = home / "duckdb" / "files.json"
    current_files(
        home,
        ["silver.events", "silver.sessions", "silver.orders", "bronze.clickstream_events", "bronze.search_events",
         "bronze.orders_events", "bronze.quarantine", "gold.funnel_daily"],
        all_files,
    )  # fmt: skip
    stages["gold browsing"]["duckdb"] = duckdb("funnel", str(all_files), str(home / "duckdb" / "funnel.parquet"))
    print(f"[{label}] gold browsing: detak {stages['gold browsing']['detak'].seconds:.1f}s, "
          f"duckdb funnel {stages['gold browsing']['duckdb'].seconds:.1f}s", flush=True)  # fmt: skip

    def row(m: Measured) -> dict[str, Any]:
        keep = {k: v for k, v in m.extra.items() if k != "seconds"}
        return {"seconds": round(m.seconds, 1), "work_s": round(m.extra.get("seconds") or 0, 1) or None,
                "cpu_s": round(m.cpu_s, 1),
                "jvm_rss_mb": round(m.jvm_rss_mb), "heap_used_mb": round(m.heap_used_mb),
                "heap_committed_mb": round(m.heap_committed_mb), "python_rss_mb": round(m.python_rss_mb),
                "python_workers_rss_mb": round(m.python_workers_rss_mb), **keep}  # fmt: skip

    return {
        "label": label,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "users": users,
        "days": days,
        "start": str(START),
        "landing_lines": summary["lines_total"],
        "spark_startup_s": round(startup.seconds, 1),
        "stages": {s: {side: row(m) for side, m in sides.items()} for s, sides in stages.items()},
        "detak_counts": checks(home, all_files),
    }


# --------------------------------------------------------------------------------------------
# Reporting: markdown and an SVG chart (no plotting library needed).


def markdown(runs: list[dict[str, Any]]) -> str:
    head = ["size", "stage", "detak (s)", "of which Spark start-up", "DuckDB (s)", "detak / DuckDB",
            "detak CPU (s)", "DuckDB CPU (s)", "detak JVM peak RSS (MiB)", "detak peak heap used (MiB)",
            "detak Python peak RSS (MiB)", "DuckDB peak RSS (MiB)"]  # fmt: skip
    rows = []

    def cpu(side: dict[str, Any]) -> str:
        return f"{side['cpu_s']:.1f}" if side.get("cpu_s") else "-"

    for run in runs:
        size = f"{run['users']:,} users × {run['days']} days ({run['landing_lines']:,} lines)"
        for stage, sides in run["stages"].items():
            d, k = sides["detak"], sides["duckdb"]
            py = f"{d['python_rss_mb']:,}" + (
                f" (+ workers {d['python_workers_rss_mb']:,})" if d["python_workers_rss_mb"] else ""
            )
            rows.append([size, stage, f"{d['seconds']:.1f}", f"{run['spark_startup_s']:.1f}", f"{k['seconds']:.1f}",
                         f"{d['seconds'] / k['seconds']:.1f}×", cpu(d), cpu(k), f"{d['jvm_rss_mb']:,}",
                         f"{d['heap_used_mb']:,}", py, f"{k['python_rss_mb']:,}"])  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def agreement(run: dict[str, Any]) -> str:
    c = run["detak_counts"]
    ing = run["stages"]["ingest"]["duckdb"]
    by = ing["by_source"]
    valid = sum(s["valid"] for s in by.values())
    rejected = sum(s["rejected"] for s in by.values())
    ses = run["stages"]["silver"]["duckdb"]["sessions"]
    funnel = run["stages"]["gold browsing"]["duckdb"]["sessions_by_step"]
    same = (
        "the same" if funnel == c["funnel_sessions_by_step"] else f"NOT the same (detak {c['funnel_sessions_by_step']})"
    )
    return (
        f"- {run['users']:,} × {run['days']}: DuckDB typed {valid:,} lines and rejected {rejected:,} "
        f"(of {ing['lines']:,}); detak's bronze has {c['bronze_rows']:,} rows and its quarantine "
        f"{c['quarantine_rows']:,}. DuckDB found {ses:,} sessions over silver.events (every event, bots "
        f"included), silver.sessions has {c['sessions']:,}. DuckDB's funnel (sessions per step "
        f"{funnel}) is {same} as gold.funnel_daily's."
    )


def svg_chart(runs: list[dict[str, Any]]) -> str:
    """Grouped horizontal bars: seconds per stage, detak against DuckDB, one group per size and stage."""
    bars = [(f"{r['users'] // 1000}k × {r['days']}d · {stage}", sides["detak"]["seconds"], sides["duckdb"]["seconds"])
            for r in runs for stage, sides in r["stages"].items()]  # fmt: skip
    top = max(max(d, k) for _, d, k in bars) or 1
    left, width, bar, gap = 230, 520, 14, 14
    height = 50 + len(bars) * (2 * bar + gap) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="20" font-size="14" font-weight="bold">detak (Spark, local[*]) and DuckDB: seconds per '
        "stage, same landing files</text>",
        '<rect x="10" y="30" width="12" height="12" fill="#d9534f"/><text x="27" y="40">detak</text>',
        '<rect x="80" y="30" width="12" height="12" fill="#337ab7"/><text x="97" y="40">DuckDB</text>',
    ]
    y = 55
    for name, d, k in bars:
        out.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{name}</text>')
        for value, colour, dy in ((d, "#d9534f", 0), (k, "#337ab7", bar)):
            w = max(1.0, width * value / top)
            out.append(f'<rect x="{left}" y="{y + dy}" width="{w:.1f}" height="{bar - 1}" fill="{colour}"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + dy + bar - 3}">{value:.1f} s</text>')
        y += 2 * bar + gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def workers_compare(label: str, job: str = "silver") -> dict[str, Any]:
    """The same daily job on the same bench home, on a standalone cluster of 1 worker, then of 2.

    Each worker offers 1 core and 3 GiB (an executor of 2 GiB); the driver is the CLI process.
    The home is one ``side_by_side`` built (bronze in place); the job rewrites the same dates
    each time (jobs are idempotent), so both runs do the same work.
    """
    from tests.cluster.standalone import standalone

    run = json.loads((ROOT / "bench" / "results" / f"sidebyside-{label}.json").read_text())
    home = ROOT / "var" / f"bench-sbs-{label}"
    last = date.fromisoformat(run["start"]) + timedelta(days=run["days"] - 1)
    out: dict[str, Any] = {"label": label, "job": job, "users": run["users"], "days": run["days"],
                           "landing_lines": run["landing_lines"], "workers": {}}  # fmt: skip
    for workers in (1, 2):
        with standalone(home / f"standalone-{workers}", workers=workers, cores=1, memory="3g") as cluster:
            env = detak_env(home)
            env["DETAK__SPARK__MASTER"] = json.dumps(cluster.master_url)
            env["SPARK_LOCAL_IP"] = "127.0.0.1"
            env["DETAK__SPARK__CONF"] = json.dumps(
                {"spark.executor.memory": "2g", "spark.executor.cores": "1", "spark.driver.memory": "2g"}
            )
            m = run_measured([PY, "-m", "jobs", "job", job, "--date", str(last), "--since", run["start"]], env)
            took = re.search(r"done in (\d+)s", m.stdout)
            out["workers"][str(workers)] = {
                "seconds": round(m.seconds, 1),
                "job_s": float(took.group(1)) if took else None,
                "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
            }
            print(f"[{label}] {job} on {workers} worker(s): {m.seconds:.1f}s", flush=True)
    out["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (ROOT / "bench" / "results" / f"workers-{label}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def runners_compare(users: int = 300, day: date = date(2026, 11, 10)) -> dict[str, Any]:
    """One detak_behaviour run of a small home through Airflow with each task runner, timed.

    Bronze and silver are built once (in_process); each runner then runs the same DAG run on its
    own copy of that lake, with silver, the gate and publish marked successful unrun (the part of
    the DAG that works over Spark Connect without Delta's server plugin: docs/SCALING.md), so the
    three do the same four tasks: gold browsing, abandonment, purchase time, features.
    ``spark_submit`` submits to local[*]; the Connect server's own start is timed apart.
    """
    import socket

    from jobs.common.config import load_settings
    from jobs.common.spark import connect_server_argv
    from jobs.orchestration.dag_runs import run_in_airflow
    from tests.cluster.standalone import free_port, stop

    root = ROOT / "var" / "bench-runners"
    shutil.rmtree(root, ignore_errors=True)
    base = root / "base"
    env = detak_env(base)
    subprocess.run(
        [PY, "-m", "jobs", "generate", "--out", str(base), "--start", str(day), "--days", "1", "--users",
         str(users), "--seed", str(SEED), "--no-progress"],
        env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    spec = [f"detak_behaviour@{day},since={day}"]
    run_in_airflow(load_settings("local", environ=env), ["detak_ingest@2026-11-11T00:00", *spec], root / "base.log",
                   base=env, mark_success="^(gold|features|quality|publish)\\.")  # fmt: skip
    skip = "^(silver|quality|publish)\\."
    out: dict[str, Any] = {"users": users, "day": str(day), "tasks": 4, "runners": {}}
    server = None
    try:
        for runner in ("spark_submit", "in_process", "spark_connect"):
            home = root / runner
            shutil.copytree(base / "lake", home / "lake")
            renv = detak_env(home)
            if runner == "spark_connect":
                port = free_port()
                t0 = time.perf_counter()
                with (root / "connect-server.log").open("wb") as log:
                    server = subprocess.Popen(connect_server_argv(load_settings("local", environ=renv), port),
                                              env={**renv, "PYSPARK_PYTHON": PY}, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        if server.poll() is not None:
                            raise SystemExit("the Spark Connect server did not start") from None
                        time.sleep(0.5)
                out["connect_server_start_s"] = round(time.perf_counter() - t0, 1)
                renv["DETAK__SPARK__REMOTE"] = json.dumps(f"sc://127.0.0.1:{port}")
            t0 = time.perf_counter()
            run_in_airflow(load_settings("local", environ=renv), spec, root / f"{runner}.log", base=renv,
                           task_runner=runner, mark_success=skip)  # fmt: skip
            log = (root / f"{runner}.log").read_text()
            tasks = {
                m.group(1): float(m.group(2)) for m in re.finditer(r"^ {6}(\S+)\s+success\s+([\d.]+)s$", log, re.M)
            }
            dag_run = re.search(r"detak_behaviour \S+: \S+ in (\d+)s", log)
            out["runners"][runner] = {
                "dag_run_s": float(dag_run.group(1)) if dag_run else None,
                "tasks_s": {k: v for k, v in tasks.items() if not re.match(skip, k)},
                "with_airflow_setup_s": round(time.perf_counter() - t0, 1),
                "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
            }
            print(f"runner {runner}: {out['runners'][runner]}", flush=True)
    finally:
        if server is not None:
            stop(server)
    out["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (ROOT / "bench" / "results" / "runners.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


#: Sizes of the scaling section: 1×, 2× and 4× the data (4× is the demo's week of the side-by-side run).
SCALES = {"5k": (5_000, 7), "10k": (10_000, 7)}


def scaling_text(runs: list[dict[str, Any]], workers: dict[str, Any] | None) -> str:
    """bench/RESULTS.md's scaling section: detak's ingest and silver at 1×, 2× and 4× the data."""
    base = runs[0]["landing_lines"]
    rows = []
    for r in runs:
        ing, sil = r["stages"]["ingest"]["detak"], r["stages"]["silver"]["detak"]
        startup, lines = r["spark_startup_s"], r["landing_lines"]
        rows.append(
            f"| {lines / base:.1f}× | {r['users']:,} × {r['days']} | {lines:,} | {ing['seconds']:.1f} | "
            f"{ing.get('cpu_s') or '-'} | {lines / max(ing['seconds'] - startup, 1):,.0f} | {sil['seconds']:.1f} | "
            f"{sil.get('cpu_s') or '-'} | {lines / max(sil['seconds'] - startup, 1):,.0f} |"
        )
    head = (
        "| data | users × days | landing lines | ingest (s) | ingest CPU (s) | lines/s after start-up | "
        "silver (s) | silver CPU (s) | lines/s after start-up |"
    )
    table = "\n".join([head, "|---|---|---:|---:|---:|---:|---:|---:|---:|", *rows])
    text = f"""## Scaling with the data

Measured {", ".join(sorted({r.get("measured", "?") for r in runs}))}, by the side-by-side runs (same
machine, same seed, local[*]): detak's ingest and silver at 1×, 2× and 4× the landing lines, each
stage a fresh CLI process (seconds include Spark's start-up; the rates subtract the start-up
measured alone in the same run).

{table}
"""
    if workers:
        w = workers["workers"]
        text += f"""
The same `detak job {workers["job"]}` on the {workers["users"]:,} × {workers["days"]} home on a standalone
cluster (tests/cluster/standalone.py, 1-core workers with a 2 GiB executor each, the CLI as driver),
measured {workers["measured"]}: 1 worker {w["1"]["seconds"]:.1f} s (job {w["1"]["job_s"]} s), 2 workers
{w["2"]["seconds"]:.1f} s (job {w["2"]["job_s"]} s); load averages {w["1"]["load_average"]} and
{w["2"]["load_average"]}.
"""
    return text


def runners_text(r: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {name} | {v['dag_run_s']} | {sum(v['tasks_s'].values()):.1f} | {v['with_airflow_setup_s']} | "
        f"{v['load_average']} |"
        for name, v in r["runners"].items()
    )
    return f"""## Airflow task runners

Measured {r["measured"]}. One `detak_behaviour` run through Airflow (`dag.test()`) of a {r["users"]}-user day
({r["day"]}) with each `airflow.task_runner`, on copies of the same lake: the {r["tasks"]} tasks that
run over Spark Connect (gold browsing, abandonment, purchase time, features; silver, the gate and
publish marked successful unrun, docs/SCALING.md). `spark_submit` submits each task to local[*];
`in_process` runs them in the DAG run's process on one session; `spark_connect` makes each task a
client of one Connect server, whose own start ({r.get("connect_server_start_s", "?")} s) is not in its row.

| runner | DAG run (s) | the 4 tasks (s) | with Airflow's database set-up (s) | load average at the end |
|---|---:|---:|---:|---|
{rows}
"""


def section_text(runs: list[dict[str, Any]]) -> str:
    """bench/RESULTS.md's side-by-side section for ``runs``; writes the chart it embeds."""
    (ROOT / "bench" / "results" / "sidebyside.svg").write_text(svg_chart(runs))
    when = ", ".join(sorted({r.get("measured", "?") for r in runs}))
    loads = "; ".join(f"{r['users']:,} × {r['days']}: {r.get('load_average', '?')}" for r in runs)
    return f"""## Side by side: detak and DuckDB

Measured {when}. `bench/sidebyside.py` on fresh homes simulated by `detak generate` from {START} (seed
{SEED}). Each stage runs in its own process: detak through its CLI on local[*] (`python -m jobs ingest`,
`python -m jobs job silver|gold_browsing --since`), so its seconds include starting Spark (measured
alone as `detak prefetch`); DuckDB in one Python process per stage. detak ingest writes three Delta
tables through Structured Streaming with the contract's validation; DuckDB reads every line, types it
by the contract (required fields per event type) and writes Parquet partitioned by event date, and the
rejected lines to a quarantine file. detak silver is the whole silver job; DuckDB does its
sessionization only (30-minute inactivity sessions over silver.events' current Delta files). detak
gold browsing builds eight tables; DuckDB the funnel of the gold cross-check test (with the session
facts it reads). So the ratios compare a whole job with its core on the same input: an upper bound of
what a change of engine alone could save on one machine.

{markdown(runs)}

Peak memory is each process tree's largest resident set (/proc VmHWM) and, for the Spark driver's
JVM, the largest heap in use before a collection (from its GC log); the driver's heap may grow to
`spark.driver.memory` (8g). The machine was shared while measuring (load average over 1 / 5 / 15
minutes at the end of each run: {loads}), which slows both sides alike but makes single figures noisy.

{chr(10).join(agreement(r) for r in runs)}

![detak and DuckDB, seconds per stage](results/sidebyside.svg)
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("duckdb-"):
        stage, args = argv[0].removeprefix("duckdb-"), argv[1:]
        if stage == "ingest":
            result = duckdb_ingest(Path(args[0]), Path(args[1]))
        elif stage == "sessions":
            result = duckdb_sessions(Path(args[0]), Path(args[1]), int(args[2]))
        else:
            result = duckdb_funnel(Path(args[0]), Path(args[1]))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=SIZES["demo"][0])
    parser.add_argument("--days", type=int, default=SIZES["demo"][1])
    parser.add_argument("--label", default=None, help="names the home var/bench-sbs-LABEL and the result file")
    parser.add_argument(
        "--report", nargs="+", metavar="LABEL", help="write results/sidebyside.md, .json and .svg from earlier runs"
    )
    parser.add_argument("--workers", metavar="LABEL", help="silver on 1 then 2 standalone workers, on run LABEL's home")
    parser.add_argument("--runners", action="store_true", help="one small DAG run with each Airflow task runner")
    args = parser.parse_args(argv)
    results = ROOT / "bench" / "results"
    if args.runners:
        print(json.dumps(runners_compare(), indent=2))
        return 0
    if args.workers:
        print(json.dumps(workers_compare(args.workers), indent=2))
        return 0
    if args.report:
        runs = [json.loads((results / f"sidebyside-{label}.json").read_text()) for label in args.report]
        (results / "sidebyside.md").write_text(section_text(runs))
        (results / "sidebyside.json").write_text(json.dumps({"runs": runs}, indent=2, default=str))
        return 0
    label = args.label or f"{args.users}x{args.days}"
    result = side_by_side(args.users, args.days, label)
    out = results / f"sidebyside-{label}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown([result]))
    print(agreement(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
