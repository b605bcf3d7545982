"""``make bench``: speed of detak's jobs on this machine, written to bench/RESULTS.md.

Measured on one simulated weekday of about a million events: the shop simulator (events/s),
bronze ingestion (lines/s through the streaming file source, validation and the Delta writes)
the silver job (bronze rows/s) and the gold browsing job (alone and over 30 days of history), on
local[*].
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.abandonment import bench_abandonment  # noqa: E402
from bench.abandonment_model import bench_abandonment_model  # noqa: E402
from bench.customers import bench_customers  # noqa: E402
from bench.features import bench_features  # noqa: E402
from bench.gold import HISTORY_DAYS, bench_gold_browsing  # noqa: E402
from bench.quality import bench_gate  # noqa: E402
from bench.score import score_bots, score_sessions  # noqa: E402
from bench.sentiment import bench_sentiment  # noqa: E402
from jobs.bronze.ingest import ingest_source  # noqa: E402
from jobs.common.config import load_settings  # noqa: E402
from jobs.common.spark import get_spark  # noqa: E402
from jobs.common.tables import read_table  # noqa: E402
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


RESULTS = ROOT / "bench" / "results"
HOME = ROOT / "var" / "bench"


def settings_for_bench() -> Any:
    return load_settings("local", environ={"DETAK_HOME": str(HOME)}, overrides={"spark": {"ui": False}})


def settings_for(home: Path, **overrides: Any) -> Any:
    """Local settings for a bench home other than the bench day's (no Spark UI), with ``overrides``."""
    return load_settings("local", environ={"DETAK_HOME": str(home)}, overrides={"spark": {"ui": False}, **overrides})


def stamp() -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def pipeline(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Simulator, bronze and silver on a fresh bench home."""
    shutil.rmtree(HOME, ignore_errors=True)
    conf = settings_for_bench()
    t = time.perf_counter()
    truth = generate(HOME, START, DAYS, USERS, seed=42, settings=conf, progress=True)
    sim_s = time.perf_counter() - t
    events = truth["good_events_total"]
    lines = truth["lines_total"]
    print(f"simulator: {events:,} events ({lines:,} lines) in {sim_s:.1f}s", flush=True)

    spark = spark_of()
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
    bots = score_bots(spark, silver_events, HOME / "truth", pseudonym_key(conf))
    sessions = score_sessions(spark, silver_events, HOME / "truth", conf["silver"])
    print(f"bots: {bots}\nsessions: {sessions}", flush=True)
    text = f"""## Shop simulator

Measured {stamp()}. `generate(start={START}, days={DAYS}, users={USERS:,}, seed=42)` with
{conf["simulator"]["workers"]} worker processes.

| events | lines written | seconds | events/s |
|---:|---:|---:|---:|
| {events:,} | {lines:,} | {sim_s:.1f} | {events / sim_s:,.0f} |

## Bronze ingestion

`ingest_source` per source on the simulator's landing files above: streaming file source with
`availableNow`, contract validation as Spark expressions, three idempotent Delta writes per
micro-batch. Seconds include the streaming query's start and stop (not the JVM start).

{format_markdown(["source", "lines", "valid", "quarantined", "seconds", "lines/s"], rows)}

## Silver

`run_silver` for {START} (every date its new bronze rows touch, with the context days sessions
and bot verdicts need at the edges; this day holds the data): dedupe, corrected and local time,
channels, user agents, bot verdicts, privacy, sessions, orders MERGE, identity MERGE,
reconciliation — every silver table written.

| bronze rows | silver events | seconds | bronze rows/s |
|---:|---:|---:|---:|
| {bronze_rows:,} | {silver_rows:,} | {silver_s:.1f} | {bronze_rows / silver_s:,.0f} |

Against the simulator's truth (bench/score.py), on this day:

- Bots and threats, per device: {bots["bot_devices"]:,} bot devices, {bots["flagged_devices"]:,} flagged;
  precision {bots["precision"]:.4f}, recall {bots["recall"]:.4f}; recall by kind
  {", ".join(f"{k} {v:.3f}" for k, v in bots["recall_by_kind"].items())}.
- Human sessions: {sessions["matched"]:,} of {sessions["true_sessions"]:,} true sessions formed exactly
  by detak ({sessions["match_rate"]:.2%}).
"""
    return text, {"silver_s": silver_s, "ingest_s": total_s, "events": events, "silver_rows": silver_rows}


def gold_browsing(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """The gold browsing build on the bench day, alone and with 30 days of history."""
    gold = bench_gold_browsing(spark_of(), settings_for_bench(), START)
    print(f"gold browsing: {gold['alone_s']:.1f}s alone, {gold['with_history_s']:.1f}s with history", flush=True)
    gold_rows = [
        ["the day alone", f"{gold['alone_s']:.1f}", *[f"{v:,}" for v in gold["rows"].values()]],
        [f"with {HISTORY_DAYS} days of history", f"{gold['with_history_s']:.1f}",
         *[f"{v:,}" for v in gold["rows_with_history"].values()]],
    ]  # fmt: skip
    history = ", ".join(f"{k} {v:,}" for k, v in gold["history_rows"].items())
    text = f"""## Gold browsing

Measured {stamp()}. `run_browsing` for {START}: all eight browsing tables (session facts, funnel,
transitions, paths, search quality, product engagement and pairs, hourly traffic), first on the day
alone, then again after {HISTORY_DAYS} earlier days of silver and gold (copies of the day: {history}
rows) were added before its window. The second build reads history only for each device's first
session and last week's funnel, so it should cost about the same.

{format_markdown(["build", "seconds", *[k.removeprefix("gold.") for k in gold["rows"]]], gold_rows)}
"""
    return text, {"alone_s": gold["alone_s"], "with_history_s": gold["with_history_s"]}


def abandonment(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Gold abandonment on the bench day, scored against the simulator's planted causes."""
    result = bench_abandonment(spark_of(), settings_for_bench())
    print(f"abandonment: {result['abandoned_carts']} carts scored, accuracy {result['accuracy']:.4f}", flush=True)
    text = f"""## Gold cart abandonment

Measured {stamp()}. `run_abandonment` over the bench day ({result["seconds"]:.1f} s), every cart's
primary reason, stage and outcome compared with the cause the simulator planted (bench/abandonment.py).

{result["markdown"]}"""
    return text, {k: result[k] for k in ("abandoned_carts", "accuracy", "seconds", "per_reason")}


def features(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Features for 30 as-of dates over the bench population (after the gold section's history)."""
    result = bench_features(spark_of(), settings_for_bench(), HISTORY_DAYS)
    print(f"features: {result['rows']:,} rows in {result['seconds']:.1f}s", flush=True)
    row = [str(result["days"]), f"{result['rows']:,}", f"{result['profile_rows']:,}", f"{result['seconds']:.1f}",
           f"{result['rows_per_second']:,}"]  # fmt: skip
    text = f"""## Time-of-purchase profiles and user features

Measured {stamp()}. `build_features` for {HISTORY_DAYS} as-of dates ({result["as_of_dates"][0]} ..
{result["as_of_dates"][1]}) in one pass over the bench population, on silver that holds the bench day
and the {HISTORY_DAYS} earlier copies the gold section added (events and sessions; orders only on the
bench day).

{format_markdown(["as-of dates", "feature rows", "profile rows", "seconds", "rows/s"], [row])}
"""
    return text, {k: result[k] for k in ("days", "rows", "profile_rows", "seconds")}


def quality(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """The quality gate on the bench day's gold tables, as a share of the daily pipeline's time."""
    from jobs.registry import jobs

    conf = settings_for_bench()
    tables = [t for j in jobs("daily") if j.stage == "gold" for t in j.outputs]
    result = bench_gate(spark_of(), tables, [START], conf)
    earlier = {n: json.loads((RESULTS / f"{n}.json").read_text()) for n in ("pipeline", "gold", "abandonment")}
    pipeline_s = earlier["pipeline"]["silver_s"] + earlier["gold"]["alone_s"] + earlier["abandonment"]["seconds"]
    share = result["seconds"] / (pipeline_s + result["seconds"])
    print(f"gate: {result['seconds']:.1f}s, {share:.1%} of the daily pipeline", flush=True)
    rows = [
        [name, str(r["expectations"]), f"{r['rows']:,}", "yes" if r["passed"] else "NO", f"{r['seconds']:.1f}"]
        for name, r in result["tables"].items()
    ]
    text = f"""## Quality gate overhead

Measured {stamp()}. `gate` on every gold table of the bench day at its current Delta version
(validation results and Data Docs written, as in the daily run), against the day's silver, gold
browsing and abandonment build times measured above ({pipeline_s:.1f} s). Target: 15 % or less.

{format_markdown(["table", "expectations", "rows", "passed", "seconds"], rows)}

Gate total {result["seconds"]:.1f} s: **{share:.1%}** of the daily pipeline (silver + gold + gate).
"""
    return text, {"seconds": result["seconds"], "share": share, "pipeline_s": pipeline_s}


def sentiment(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """The review sentiment model on PRDECT-ID's fixed held-out split (no Spark, no bench data)."""
    result = bench_sentiment(settings_for_bench())
    print(f"sentiment: accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}", flush=True)
    text = f"""## Review sentiment

Measured {stamp()}. The model of `gold.sentiment` (jobs/ml/sentiment.py) trained on PRDECT-ID's fixed
split and scored on its held-out rows, beside the majority class (bench/sentiment.py).

{result["markdown"]}"""
    return text, {k: v for k, v in result.items() if k != "markdown"}


#: Simulated shoppers of the customers section (three weeks around 11.11).
CUSTOMER_USERS = int(os.environ.get("DETAK_BENCH_CUSTOMER_USERS", "3000"))


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{x:.2%}"


def customers(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Segments, recommendations and contact time on held-out data, against baselines (bench/customers.py)."""
    from tests.conftest import SHARED_DATA

    r = bench_customers(spark_of(), settings_for, ROOT / "var" / "bench-customers", CUSTOMER_USERS, SHARED_DATA)
    rec = r["recommendations"]
    bought = rec["simulated"]["purchase"]
    print(f"customers: ARI {[round(x['ari'], 3) for x in r['recovery']]}, recall@10 "
          f"{bought['model']['recall']:.3f} vs {bought['baseline']['recall']:.3f}", flush=True)  # fmt: skip
    recovery = [[x["as_of_date"], f"{x['users']:,}", str(x["clusters"]), f"{x['ari']:.4f}",
                 f"{x['random_ari_mean']:.4f} (max {x['random_ari_max']:.4f})"] for x in r["recovery"]]  # fmt: skip
    stability = [[x["as_of_date"], f"{x['users_both']:,}", f"{x['barely_changed']:,}",
                  _pct(x["kept_id_barely_changed"]), _pct(x["kept_id_all"]),
                  f"{x['matched_clusters']} of {x['clusters']}", f"{x['centroid_drift_mean']:.3f}"]
                 for x in r["stability"]]  # fmt: skip
    recs = []
    for name, e in rec.items():
        if "skipped" in e:
            recs.append([name, e["skipped"], "", "", "", "", "", ""])
            continue
        for target in ("purchase", "add_to_cart"):
            m, b = e[target]["model"], e[target]["baseline"]
            recs.append([name, e["cutoff"], target, f"{m['users']:,}", f"{m['recall']:.4f} / {m['ndcg']:.4f}",
                         f"{b['recall']:.4f} / {b['ndcg']:.4f}", _pct(e[target]["recall_lift"]),
                         f"{m['hits']} / {b['hits']}"])  # fmt: skip
    contact = [[x["as_of_date"], f"{x['purchases']:,}", _pct(x["share"]), f"{x['baseline_hour']:02d}:00",
                _pct(x["baseline_share"]),
                ", ".join(f"{k} {v['hits']}/{v['purchases']}" for k, v in sorted(x["by_source"].items()))]
               for x in r["contact_time"]]  # fmt: skip
    test_days = rec["simulated"]["test_days"]
    prior = settings_for_bench()["gold"]["contact_time"]["prior_strength"]
    text = f"""## Customers: segments, recommendations, contact time

Measured {stamp()} (bench/customers.py). A simulated home of {r["days"][0]} .. {r["days"][1]} for
{CUSTOMER_USERS:,} users (seed 11; simulator, bronze, silver, profiles and features built in
{r["build_s"]:.0f} s); segments and contact time for the Mondays of weeks 2-4 ({r["segments_s"]:.0f} s).

**Clusters against the simulator's customer types.** The simulator draws each shopper's activity
(visit rate) and taste (favourite categories); `truth/users.parquet` names three tiers of the
activity (light, regular, heavy), the behaviour the clustering features describe. Adjusted Rand
index of the cluster ids against those tiers, beside 20 random assignments with the same cluster
sizes:

{format_markdown(["as of", "customers", "clusters", "ARI", "random ARI"], recovery)}

**Stable ids.** Customers present on both Mondays; "barely changed": every scaled clustering
feature moved by at most `stable_feature_delta`:

{
        format_markdown(
            [
                "as of",
                "on both dates",
                "barely changed",
                "kept id (barely changed)",
                "kept id (all)",
                "clusters matched",
                "mean centroid drift",
            ],
            stability,
        )
    }

**Recommendations** (jobs/ml/recommend_eval.py): built as of the cut-off from the data before it,
scored on what each customer bought or added to a cart in the held-out days (the simulated home's
last {test_days} days; the blend's weights were chosen on this home, seed 11, while the
tests score the shared home of seed 7); recall@10 / NDCG@10
of the model and of the popularity baseline (same customers, same code), and the model's recall
lift (target: at least {rec["simulated"]["min_lift"]:.0%}). REES46 (2.5 hours, 54 purchases) and
OTTO (20 visitors, 10 orders; scored per device, it has no accounts) are far too small to rank
recommenders: their rows show the code runs on real data, not which method is better.

{
        format_markdown(
            [
                "data",
                "cut-off",
                "target",
                "customers",
                "model recall / NDCG",
                "popularity recall / NDCG",
                "recall lift",
                "hits model / baseline",
            ],
            recs,
        )
    }

**Contact time** (jobs/gold/contact_time.py): share of the next 7 days' purchases whose local hour
is within ±{settings_for_bench()["gold"]["contact_time"]["hit_hours"]} h of the suggested hour, against everyone
getting the global peak hour. Simulated shoppers have no hour of their own (they visit by their time
zone's rhythm), so the best a personal hour can do here is tie the peak; `prior_strength`
{prior:.0f} shrinks each person's hours toward their segment's purchases (with 10 the
personal rows fell 6-9 points below the peak, with 0 up to 12):

{format_markdown(["as of", "purchases", "suggested hour", "global peak", "peak hour share", "hits by source"], contact)}
"""
    return text, r


#: `make demo` must finish within this many seconds after set-up (2 cores).
DEMO_TARGET_S = 600


def demo(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """``detak demo`` end to end in its own processes, timed, and a screenshot of its report."""
    import re
    import shutil as sh

    from jobs.report import render_in_chromium

    home = ROOT / "var" / "bench-demo"
    env = {**os.environ, "DETAK_DEMO_HOME": str(home)}
    env.pop("DETAK_HOME", None)
    t = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "detak"), "demo"], env=env, capture_output=True, text=True, check=False
    )
    total = time.perf_counter() - t
    out = proc.stdout
    (RESULTS / "demo.log").write_text(out + proc.stderr[-4000:])
    if proc.returncode != 0:
        raise SystemExit(f"detak demo failed ({proc.returncode}); see {RESULTS / 'demo.log'}")
    print(f"demo: {total:.0f}s (target {DEMO_TARGET_S}s)", flush=True)
    steps = [(m.group(1), float(m.group(2))) for m in re.finditer(r"^\s+(\S+)\s+success\s+([\d.]+)s$", out, re.M)]
    simulated = re.search(r"([\d,]+) lines written \((\d+)s\)", out)
    report = home / "reports" / "behaviour.html"
    browser = sh.which("chromium") or sh.which("chromium-browser") or "chromium"
    page = render_in_chromium(report, RESULTS / "demo-report.png", browser)
    # The per-day table the demo prints between its step 4 line and the report's path.
    body = out.split("4/4 ", 1)[-1].split("\n", 1)[-1]
    summary = body.split("Report:", 1)[0].rstrip()
    verdict = "within" if total <= DEMO_TARGET_S else "OVER"
    lines = f"{simulated.group(1)} landing lines simulated in {simulated.group(2)} s; " if simulated else ""
    rows = [[name, f"{secs:.1f}"] for name, secs in steps]
    history = _demo_history(total, dict(steps), simulated.groups() if simulated else None)
    text = f"""## make demo

Measured {stamp()}. `detak demo` (what `make demo` runs after set-up) in a fresh home: 7 days around
11.11 for 20,000 users, simulated, ingested by `detak_ingest` and processed by one `detak_behaviour`
run standing for the 7 daily runs, through Airflow (`dag.test()`, tasks in one process on one Spark
session), published to DuckDB, reconciled and reported. {lines}total **{total:.0f} s**, {verdict} the
{DEMO_TARGET_S} s target.

{format_markdown(["Airflow task", "seconds"], rows)}

Every measured run on this machine (`results/demo-history.json`, one row added per run). The
machine's speed drifts by up to 2x over a day, so the simulator (pure Python, no Spark) is the
yardstick to compare runs by:

{history}

The summary it printed:

```
{summary}
```

The report in headless Chromium ({sum(page["charts"].values())} of {len(page["charts"])} charts drawn,
{len(page["errors"])} console errors):

![behaviour report](results/demo-report.png)
"""
    return text, {"seconds": total, "tasks": dict(steps), "charts": page["charts"], "errors": page["errors"]}


HISTORY = RESULTS / "demo-history.json"


def _git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    # The bench's own outputs (written by this very run) do not make the code a changed one.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results", ":!bench/RESULTS.md")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def _demo_history(total: float, tasks: dict[str, float], simulated: tuple[str, str] | None) -> str:
    """Append this run to the demo's history file; the whole history as a markdown table."""
    runs = json.loads(HISTORY.read_text()) if HISTORY.exists() else []
    runs.append(
        {
            "started": stamp(),
            "code": _git_commit(),
            "landing_lines": simulated[0] if simulated else None,
            "simulator_s": int(simulated[1]) if simulated else None,
            "ingest_s": round(sum(v for k, v in tasks.items() if k.startswith("ingest_"))),
            "silver_s": round(tasks.get("silver.silver", 0)),
            "browsing_s": round(tasks.get("gold.gold_browsing", 0)),
            "publish_s": round(tasks.get("publish.publish", 0)),
            "total_s": round(total),
        }
    )
    HISTORY.write_text(json.dumps(runs, indent=2) + "\n")
    columns = {
        "started": "started",
        "code": "code",
        "landing_lines": "landing lines",
        "simulator_s": "simulator (s)",
        "ingest_s": "ingest (s)",
        "silver_s": "silver (s)",
        "browsing_s": "browsing (s)",
        "publish_s": "publish (s)",
        "total_s": "demo (s)",
    }
    return format_markdown(list(columns.values()), [[str(run.get(c, "")) for c in columns] for run in runs])


def sidebyside(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """detak's stages against DuckDB on the same landing files, at a small size and the demo's week."""
    from bench import sidebyside as sbs

    runs = []
    for label, (users, days) in sbs.SIZES.items():
        runs.append(sbs.side_by_side(users, days, label))
        (RESULTS / f"sidebyside-{label}.json").write_text(json.dumps(runs[-1], indent=2) + "\n")
    return sbs.section_text(runs), {"runs": runs}


def scaling(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """detak's ingest and silver at 1×, 2× and 4× the data (after sidebyside), 1 worker against 2."""
    from bench import sidebyside as sbs

    runs = []
    for label, (users, days) in sbs.SCALES.items():
        runs.append(sbs.side_by_side(users, days, label))
        (RESULTS / f"sidebyside-{label}.json").write_text(json.dumps(runs[-1], indent=2) + "\n")
    runs.append(json.loads((RESULTS / "sidebyside-demo.json").read_text()))
    workers = sbs.workers_compare(next(iter(sbs.SCALES)))
    return sbs.scaling_text(runs, workers), {"runs": runs, "workers": workers}


def reliability(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Faults survived, bad inputs handled, rows lost, outage catch-up and incremental cost;
    also written to docs/RELIABILITY.md."""
    from bench.reliability import bench_reliability, markdown

    result = bench_reliability(spark_of(), ROOT / "var" / "bench-reliability")
    text = markdown(result, stamp(), format_markdown)
    doc = ROOT / "docs" / "RELIABILITY.md"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(RELIABILITY_HEAD + text.split("\n", 1)[1])
    return text, result


RELIABILITY_HEAD = """# Reliability: what detak promises, and the figures

**No event is lost.** Every landing line ends in bronze or in `bronze.quarantine` with a reason;
every file that cannot be read ends in `bronze.quarantine_files`; every bronze row is accounted for
in silver, on every date, as a silver row, a resent duplicate or an event too late (`detak
reconcile`). A job killed at any moment is re-run and leaves the tables a run never interrupted
leaves. How: docs/bronze.md (ingestion), docs/silver.md (incremental runs), jobs/common/manifest.py,
jobs/common/lock.py. This page is written by `make bench` (bench/reliability.py).
"""


def runners(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """One small detak_behaviour run with each Airflow task runner."""
    from bench import sidebyside as sbs

    result = sbs.runners_compare()
    return sbs.runners_text(result), result


#: In order: abandonment scores the bench day alone, before gold adds 30 days of history.
MODEL_USERS = int(os.environ.get("DETAK_BENCH_MODEL_USERS", "3000"))


def _model_rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    if "skipped" in r:
        return [[name, "", r["skipped"], "", "", "", "", "", ""]]
    if "stopped" in r:
        return [[name, "all points", f"training stopped: {r['stopped']}", "", "", "", "", "", ""]]
    rows = []
    for point, m in r["points"].items():
        if "skipped" in m:
            rows.append([name, point, f"skipped ({m['carts_available']:,} carts): {m['skipped']}",
                         "", "", "", "", "", ""])  # fmt: skip
            continue
        rows.append([
            name, point + (" (no skill: not used)" if m.get("no_skill") else ""),
            f"{m['split']['train_start']} .. {m['split']['train_end']} / "
            f"{m['split']['test_start']} .. {m['split']['test_end']}",
            f"{m['train_rows']:,} / {int(m['rows']):,}", f"{m['positive_rate']:.3f}", f"{m['roc_auc']:.4f} (0.5)",
            f"{m['pr_auc']:.4f} ({m['pr_auc_baseline']:.4f})", f"{m['brier']:.4f} ({m['brier_baseline']:.4f})",
            f"{m['top_decile_lift']:.2f} (1.00)",
        ])  # fmt: skip
    return rows


def abandonment_model(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """The decision-point abandonment models on held-out days, beside baselines (bench/abandonment_model.py)."""
    from tests.conftest import SHARED_DATA

    r = bench_abandonment_model(spark_of(), settings_for, ROOT / "var" / "bench-model", MODEL_USERS, SHARED_DATA)
    sim = r["simulated"]
    rows = _model_rows("simulated", sim) + _model_rows("REES46 sample", r["rees46"])
    print("abandonment model:", json.dumps(rows), flush=True)
    head = ["data", "decision point", "train days / held-out days", "carts train / test", "left rate (test)",
            "ROC AUC (baseline)", "PR AUC (base rate)", "Brier (base rate)", "top-decile lift (baseline)"]  # fmt: skip
    text = f"""## Abandonment models at the decision points

Measured {stamp()} (bench/abandonment_model.py). One model per decision point, trained by
`detak train abandonment`'s code on the earlier days and scored on the last held-out days; each
figure beside its baseline: 0.5 for ROC AUC, and the training days' left rate (the stage-only rate,
since every row of a model stands at one point) for PR AUC, Brier score and lift. Simulated home:
{sim["days"][0]} .. {sim["days"][1]}, {MODEL_USERS:,} users, seed 11 (built in {sim["simulate_s"]:.0f} s,
carts by outcome {sim["carts"]}); training took {sim.get("train_s", float("nan")):.0f} s.

{format_markdown(head, rows)}

The simulator plants its abandonment causes after the decision points (a shipping quote, a failed
payment), so the models see only the early signs a real shop would see then; modest figures are
the honest ones. A model whose held-out ROC AUC is not above 0.5 is marked and not used to score
open carts (gold.cart_risk falls back to the furthest earlier point). The REES46 sample holds a
few hours of one day (carts {r["rees46"].get("carts", {})}):
no earlier day to train on, which the training reports in its one line rather than a figure.
"""
    return text, r


def kafka(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Kafka ingest throughput beside the file path's, on its own simulated day (bench/kafka.py)."""
    from bench.kafka import bench_kafka, markdown

    users = int(os.environ.get("DETAK_BENCH_KAFKA_USERS", "50000"))
    result = bench_kafka(spark_of(), ROOT / "var" / "bench-kafka", START, users)
    return markdown(result, stamp()), result


def forecast_section(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """The surge forecast's 11.11 and 12.12 backtests on two simulated seasons (bench/forecast.py; no Spark)."""
    from bench.forecast import bench_forecast

    users = int(os.environ.get("DETAK_BENCH_FORECAST_USERS", "20000"))
    r = bench_forecast(settings_for, ROOT / "var" / "bench-forecast", users, [3, 4, 5, 6, 7])
    rows = [[str(x["seed"]), x["sale"], x["origin"], f"{x['model']['daily_mape']:.1%}",
             f"{x['naive']['daily_mape']:.1%}",
             f"{x['model']['peak_hour_forecast']:02d}:00 / {x['model']['peak_hour_actual']:02d}:00",
             f"{x['model']['peak_volume_error']:+.1%}", f"{x['naive']['peak_volume_error']:+.1%}",
             f"{x['model']['day_volume_error']:+.1%}", f"{x['naive']['day_volume_error']:+.1%}",
             " / ".join(f"{x['coverage'][t]:.0%}" for t in ("events", "sessions", "orders", "peak_events_per_second"))]
            for x in r["rows"]]  # fmt: skip
    s = r["summary"]
    text = f"""## Surge forecast backtests

Measured {stamp()} (bench/forecast.py). Two simulated seasons of hourly traffic ({r["first"]} ..
{r["last"]}, {users:,} shoppers, growth {r["seasons"]["yearly_growth"]:.0%} a year, daily noise
{r["seasons"]["daily_noise"]:.0%}; jobs/simulate/history.py): the forecast of 11.11 made on 1 November and of
12.12 made on 1 December from the history up to that day (jobs/ml/forecast.py), beside the seasonal-naive
baseline (the same day a year earlier × recent growth). Targets: daily MAPE ≤ 15 %, the sale day's
peak hour within 1 h and its volume within 20 %, and a lower MAPE than the baseline.

{
        format_markdown(
            [
                "seed",
                "sale day",
                "made on",
                "daily MAPE",
                "naive MAPE",
                "peak hour (forecast / actual)",
                "peak volume error",
                "naive's",
                "day volume error",
                "naive's",
                "inside 80 % (events / sessions / orders / peak eps)",
            ],
            rows,
        )
    }

Over {s["runs"]} backtests: the worst daily MAPE {s["mape_max"]:.1%}; below the baseline's in
{s["beats_naive"]}; peak hour within 1 h in {s["peak_hour_within_1h"]}; peak volume within 20 % in
{s["peak_volume_within_20pct"]}; hours inside the 80 % intervals on average {s["coverage_mean"]:.0%}.
"""
    return text, r


def live(spark_of: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """The live path's latency from a file landing to its campaign row published (bench/live.py; CLI processes)."""
    from bench.live import bench_live, markdown

    users = int(os.environ.get("DETAK_BENCH_LIVE_USERS", "20000"))
    result = bench_live(ROOT / "var" / "bench-live", users)
    return markdown(result, stamp()), result


SECTIONS: dict[str, Callable[[Callable[[], Any]], tuple[str, dict[str, Any]]]] = {
    "pipeline": pipeline,
    "kafka": kafka,
    "abandonment": abandonment,
    "abandonment_model": abandonment_model,
    "gold": gold_browsing,
    "features": features,
    "quality": quality,
    "sentiment": sentiment,
    "customers": customers,
    "forecast": forecast_section,
    "live": live,
    "demo": demo,
    "sidebyside": sidebyside,
    "scaling": scaling,
    "runners": runners,
    "reliability": reliability,
}


def main(argv: list[str]) -> int:
    """Run the named sections (all by default) and rewrite bench/RESULTS.md from every section's result.

    Sections after ``pipeline`` work on the bench home it built, so one can be re-run alone.
    """
    if argv == ["--assemble"]:
        # Rewrite RESULTS.md from the sections' last results, running nothing.
        argv = []
        chosen: list[str] = []
    else:
        chosen = argv or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; known: {list(SECTIONS)}")
    RESULTS.mkdir(exist_ok=True)
    session: list[Any] = []

    def spark_of() -> Any:
        if not session:
            session.append(get_spark(settings_for_bench(), app_name="detak-bench"))
            session[0].range(1).count()  # JVM warm-up is not part of any job
        return session[0]

    for name in chosen:
        text, numbers = SECTIONS[name](spark_of)
        (RESULTS / f"{name}.md").write_text(text)
        (RESULTS / f"{name}.json").write_text(json.dumps(numbers, indent=2, default=str))
    if session:
        session[0].stop()
    conf = settings_for_bench()
    driver_memory = conf["spark"]["conf"]["spark.driver.memory"]
    driver_jvm = conf["spark"]["conf"].get("spark.driver.extraJavaOptions", "JVM defaults")
    # recorded.md: figures measured outside make bench, kept as written (see its heading).
    parts = [(RESULTS / f"{n}.md").read_text() for n in [*SECTIONS, "recorded"] if (RESULTS / f"{n}.md").exists()]
    text = f"""# Benchmarks

Produced by `make bench` ({Path(__file__).name}); numbers from one run, not a timed test. Each section
says when it was measured (`python bench/run.py SECTION` re-runs one on the existing bench data).

- Machine: {machine()}
- Spark: local[*], {conf["spark"]["shuffle_partitions"]} shuffle partitions, driver memory {driver_memory}
  ({driver_jvm})

""" + "\n".join(parts)
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(f"written to {ROOT / 'bench' / 'RESULTS.md'}")
    return 0


def format_markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
