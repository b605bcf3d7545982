"""``make bench``: speed of detak's jobs on this machine, written to bench/RESULTS.md.

Measured on one simulated weekday of about a million events: the shop simulator (events/s),
bronze ingestion (lines/s through the streaming file source, validation and the Delta writes)
the silver job (bronze rows/s) and the gold browsing job (alone and over 30 days of history), on
local[*].
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gold import HISTORY_DAYS, bench_gold_browsing  # noqa: E402
from bench.score import score_bots, score_sessions  # noqa: E402
from jobs.bronze.ingest import ingest_source  # noqa: E402
from jobs.common.config import load_settings  # noqa: E402
from jobs.common.spark import get_spark  # noqa: E402
from jobs.common.tables import read_table  # noqa: E402
from jobs.common.text import format_table  # noqa: E402
from jobs.silver.daily import run_silver  # noqa: E402
from jobs.silver.privacy import pseudonym_key  # noqa: E402
from jobs.simulate import generate  # noqa: E402

# One ordinary weekday of about a million events (the 1-million-event day of the targets).
USERS = int(os.environ.get("DETAK_BENCH_USERS", "170000"))
DAYS = 1
START = date(2026, 11, 4)


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem = next(
        int(line.split()[1]) // 1024 // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {java}"
    )


def main() -> int:
    home = ROOT / "var" / "bench"
    shutil.rmtree(home, ignore_errors=True)
    conf = load_settings("local", environ={"DETAK_HOME": str(home)}, overrides={"spark": {"ui": False}})

    t = time.perf_counter()
    truth = generate(home, START, DAYS, USERS, seed=42, settings=conf, progress=True)
    sim_s = time.perf_counter() - t
    events = truth["good_events_total"]
    lines = truth["lines_total"]
    print(f"simulator: {events:,} events ({lines:,} lines) in {sim_s:.1f}s", flush=True)

    spark = get_spark(conf, app_name="detak-bench")
    spark.range(1).count()  # JVM warm-up is not ingestion
    rows = []
    total_lines, total_s = 0, 0.0
    for source in conf["ingest"]["sources"]:
        t = time.perf_counter()
        report = ingest_source(spark, source, conf, run_id="bench")
        secs = time.perf_counter() - t
        total_lines += report.lines
        total_s += secs
        rows.append([source, f"{report.lines:,}", f"{report.valid:,}", f"{report.quarantined:,}",
                     f"{secs:.1f}", f"{report.lines / secs:,.0f}"])  # fmt: skip
    rows.append(["all", f"{total_lines:,}", "", "", f"{total_s:.1f}", f"{total_lines / total_s:,.0f}"])

    t = time.perf_counter()
    silver = run_silver(spark, START, conf)
    silver_s = time.perf_counter() - t
    day_rows = [r for r in silver["rows"] if str(r["event_date"]) == str(START)]
    bronze_rows = sum(r["bronze_rows"] for r in day_rows)
    silver_rows = sum(r["silver_rows"] for r in day_rows)
    print(f"silver: {bronze_rows:,} bronze rows → {silver_rows:,} silver events in {silver_s:.1f}s", flush=True)
    silver_events = read_table(spark, "silver.events", conf)
    bots = score_bots(spark, silver_events, home / "truth", pseudonym_key(conf))
    sessions = score_sessions(spark, silver_events, home / "truth", conf["silver"])
    print(f"bots: {bots}\nsessions: {sessions}", flush=True)

    gold = bench_gold_browsing(spark, conf, START)
    print(f"gold browsing: {gold['alone_s']:.1f}s alone, {gold['with_history_s']:.1f}s with history", flush=True)
    gold_rows = [
        ["the day alone", f"{gold['alone_s']:.1f}", *[f"{v:,}" for v in gold["rows"].values()]],
        [f"with {HISTORY_DAYS} days of history", f"{gold['with_history_s']:.1f}",
         *[f"{v:,}" for v in gold["rows_with_history"].values()]],
    ]  # fmt: skip
    spark.stop()

    now = datetime.now(UTC)
    driver_memory = conf["spark"]["conf"]["spark.driver.memory"]
    text = f"""# Benchmarks

Produced by `make bench` ({Path(__file__).name}); numbers from one run, not a timed test.

- Date: {now:%Y-%m-%d %H:%M} UTC
- Machine: {machine()}
- Spark: local[*], {conf["spark"]["shuffle_partitions"]} shuffle partitions, driver memory {driver_memory}

## Shop simulator

`generate(start={START}, days={DAYS}, users={USERS:,}, seed=42)` with {conf["simulator"]["workers"]} worker processes.

| events | lines written | seconds | events/s |
|---:|---:|---:|---:|
| {events:,} | {lines:,} | {sim_s:.1f} | {events / sim_s:,.0f} |

## Bronze ingestion

`ingest_source` per source on the simulator's landing files above: streaming file source with
`availableNow`, contract validation as Spark expressions, three idempotent Delta writes per
micro-batch. Seconds include the streaming query's start and stop (not the JVM start).

{format_markdown(["source", "lines", "valid", "quarantined", "seconds", "lines/s"], rows)}

## Silver

`run_silver` for {START} (window of {conf["silver"]["lookback_days"] + 1} days, of which this one
holds the data): dedupe, corrected and local time, channels, user agents, bot verdicts, privacy,
sessions, orders MERGE, identity MERGE, reconciliation — every silver table written.

| bronze rows | silver events | seconds | bronze rows/s |
|---:|---:|---:|---:|
| {bronze_rows:,} | {silver_rows:,} | {silver_s:.1f} | {bronze_rows / silver_s:,.0f} |

Against the simulator's truth (bench/score.py), on this day:

- Bots and threats, per device: {bots["bot_devices"]:,} bot devices, {bots["flagged_devices"]:,} flagged;
  precision {bots["precision"]:.4f}, recall {bots["recall"]:.4f}; recall by kind
  {", ".join(f"{k} {v:.3f}" for k, v in bots["recall_by_kind"].items())}.
- Human sessions: {sessions["matched"]:,} of {sessions["true_sessions"]:,} true sessions formed exactly
  by detak ({sessions["match_rate"]:.2%}).

## Gold browsing

`run_browsing` for {START}: all eight browsing tables (session facts, funnel, transitions, paths,
search quality, product engagement and pairs, hourly traffic), first on the day alone, then again
after {HISTORY_DAYS} earlier days of silver and gold ({", ".join(f"{k} {v:,}" for k, v in gold["history_rows"].items())}
rows, copies of the day) were added before its window. The second build reads history only for
each device's first session and last week's funnel, so it should cost about the same.

{format_markdown(["build", "seconds", *gold["rows"]], gold_rows)}
"""
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(format_table(["source", "lines", "valid", "quarantined", "seconds", "lines/s"], rows))
    print(f"written to {ROOT / 'bench' / 'RESULTS.md'}")
    return 0


def format_markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
