"""Incremental by data: day-by-day runs, an outage, a late upload, re-runs and no-op runs.

One simulated week of landing files, delivered three ways:

* ``daily``: each day's landing folders are delivered, ingested and followed by the whole daily
  pipeline for that day, as the scheduler runs it; one file of day 3 is held back and delivered
  with day 5 (a collector that uploads a day late, after that day's runs);
* ``outage``: every day's files land and are ingested while no silver, gold, gate or publish runs;
  then one ordinary run for the last day;
* both end with the same tables, in the lake and in the warehouse, and those are what a full
  rebuild gives: the outage run *is* one.

On its last day the ``daily`` home also takes the near-real-time path (``detak live``,
:func:`jobs.registry.run_live`) as the detak_live DAG does: the day's files land in two halves, each
ingested and refreshed by the live path, and the daily run follows. Its campaign and threat tables
(lake, warehouse and threat feed) after the morning's refresh are those one pass of the jobs over
the same bronze rows makes, and at the end every table equals the full rebuild's.

Then a run with nothing new changes no table version, and re-running with ``since`` (a forced
rebuild of every date) changes no row.

Two sizes: ``make test`` runs two days through the jobs that carry the promise from bronze to the
warehouse (silver, gold browsing, the gate and the publish; a file of the first day delivered with
the second); ``make soak`` runs the week through every daily job.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.bronze.ingest import run_ingest
from jobs.common.config import Settings
from jobs.common.tables import delta_version, read_table, table_path
from jobs.registry import LIVE_TABLES, SILVER, Job, jobs, run, run_live
from jobs.simulate import generate
from tests.conftest import sim_settings

pytestmark = [pytest.mark.integration]

START, USERS, SEED = date(2026, 11, 9), 40, 5
SOURCES = ["clickstream", "search", "orders"]
WAREHOUSE_SCHEMAS = ("gold", "features")


@dataclass(frozen=True)
class Size:
    days: int
    held_back: int  # index of the day one of whose files is held back
    delivered_with: int  # index of the day it is delivered with, after the held-back day's runs
    jobs: tuple[str, ...] | None  # the daily jobs run (None: every one)

    @property
    def daily_jobs(self) -> list[Job]:
        return [j for j in jobs("daily") if self.jobs is None or j.name in self.jobs]


SMALL = Size(2, 0, 1, ("silver", "gold_browsing", "gold_campaigns", "gold_threats", "quality_gate", "publish"))
#: The live home's last day arrives in two halves: UTC hours before this one, then the rest.
MIDDAY = 12
WEEK = Size(6, 2, 4, None)


@dataclass
class Live:
    """What the daily home's live refreshes left on its last day."""

    #: The morning's reference: one pass of the live path's jobs over a copy of the bronze tables then.
    morning: Settings
    #: Versions of the live tables after the morning's refresh; copies of the warehouse and the feed then.
    morning_versions: dict[str, int]
    morning_warehouse: Path
    morning_feed: dict
    #: The warehouse after the afternoon's refresh, before the daily run.
    before_daily_warehouse: Path


@dataclass
class Homes:
    source: Path
    daily: Settings
    outage: Settings
    held_back: str
    reports: dict[date, dict[str, dict]]
    size: Size
    live: Live

    def day(self, index: int) -> date:
        return START + timedelta(days=index)

    @property
    def last(self) -> date:
        return self.day(self.size.days - 1)


def _deliver(
    landing_from: Path, landing_to: Path, day: date, skip: str | None = None, hours: range = range(24)
) -> list[str]:
    """Copy the landing folders of ``day`` (every source; those of ``hours``) into another home; the
    files copied."""
    copied = []
    for src in sorted(landing_from.glob(f"*/date={day}/**/*.jsonl.gz")):
        rel = src.relative_to(landing_from)
        if skip is not None and str(rel) == skip:
            continue
        if int(src.parent.name.removeprefix("hour=")) not in hours:
            continue
        dst = landing_to / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied.append(str(rel))
    return copied


def _daily_run(spark: SparkSession, day: date, conf: Settings, size: Size) -> dict[str, dict]:
    return {j.name: run(j.name, spark, day, conf) for j in size.daily_jobs}


@pytest.fixture(scope="module", params=[SMALL, pytest.param(WEEK, marks=pytest.mark.soak)], ids=["2 days", "week"])
def homes(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Homes]:
    size: Size = request.param
    root = tmp_path_factory.mktemp("incremental")
    source = root / "source"
    base = sim_settings(source)
    generate(source, START, size.days, USERS, seed=SEED, settings=base, progress=False)
    landing = source / "landing"
    held_back_day, delivered_with = START + timedelta(days=size.held_back), START + timedelta(days=size.delivered_with)
    # The held-back file: the clickstream file of that day with the most lines of events of that day.
    candidates = sorted(
        landing.glob(f"clickstream/date={held_back_day}/**/*.jsonl.gz"), key=lambda p: -p.stat().st_size
    )
    held_back = str(candidates[0].relative_to(landing))

    daily = sim_settings(root / "daily")
    reports: dict[date, dict[str, dict]] = {}
    last = START + timedelta(days=size.days - 1)
    for i in range(size.days):
        day = START + timedelta(days=i)
        if day == last:  # the morning's files first, each half ingested and refreshed by the live path
            _deliver(landing, daily.path("landing"), day, skip=held_back, hours=range(MIDDAY))
            run_ingest(spark, SOURCES, daily, run_id="morning")
            run_live(spark, day, daily, run_id="live-morning")
            live = _morning(spark, root, daily, day)
            _deliver(landing, daily.path("landing"), day, skip=held_back, hours=range(MIDDAY, 24))
        else:
            _deliver(landing, daily.path("landing"), day, skip=held_back)
        if day == delivered_with:
            late = daily.path("landing") / held_back.replace(str(held_back_day), str(delivered_with), 1)
            late = late.with_name("late-" + late.name)
            late.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(landing / held_back, late)
        run_ingest(spark, SOURCES, daily, run_id=f"day{i}")
        if day == last:
            run_live(spark, day, daily, run_id="live-afternoon")
            live.before_daily_warehouse = Path(shutil.copy2(daily.path("warehouse"), root / "before-daily.duckdb"))
        reports[day] = _daily_run(spark, day, daily, size)

    outage = sim_settings(root / "outage")
    for i in range(size.days):
        _deliver(landing, outage.path("landing"), START + timedelta(days=i))
        if size is WEEK:  # day by day; the small size ingests both days at once (the same files)
            run_ingest(spark, SOURCES, outage, run_id=f"day{i}")
    if size is not WEEK:
        run_ingest(spark, SOURCES, outage, run_id="days")
    reports[date.max] = _daily_run(spark, START + timedelta(days=size.days - 1), outage, size)
    yield Homes(source, daily, outage, held_back, reports, size, live)


def _morning(spark: SparkSession, root: Path, conf: Settings, day: date) -> Live:
    """The daily home's state after the morning's refresh, and the reference for it: the live path's
    jobs in one pass over a copy of the bronze tables then (no manifest: every date is new)."""
    versions = {t: delta_version(spark, table_path(t, conf)) for t in LIVE_TABLES}
    warehouse = Path(shutil.copy2(conf.path("warehouse"), root / "morning.duckdb"))
    feed = json.loads(conf.path("threat_feed").read_text())
    morning = sim_settings(root / "morning")
    bronze = Path(table_path("bronze.clickstream_events", conf)).parent
    shutil.copytree(bronze, Path(table_path("bronze.clickstream_events", morning)).parent)
    run_live(spark, day, morning, run_id="one-pass")
    return Live(morning, versions, warehouse, feed, Path())


#: Served snapshots (recommendations): only the latest as-of date is history-independent.
SNAPSHOTS = {t for j in jobs("daily") if j.snapshot for t in j.outputs}


def _lake(spark: SparkSession, homes: Homes, conf: Settings, name: str) -> DataFrame:
    df = read_table(spark, name, conf)
    if name in SNAPSHOTS:
        return df.where(F.col("as_of_date") == homes.last + timedelta(days=1))
    # Which run wrote a reconciliation row, and when bronze received an event (each home ingested
    # the same files at its own time), are bookkeeping, not data.
    return df.drop("run_date", "_ingested_at")


def _warehouse(homes: Homes, conf: Settings, path: Path | None = None) -> dict[str, list[tuple]]:
    latest = homes.last + timedelta(days=1)
    with duckdb.connect(str(path or conf["paths"]["warehouse"]), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                f"WHERE table_schema IN {WAREHOUSE_SCHEMAS} ORDER BY 1"
            ).fetchall()
        ]
        return {
            n: sorted(
                con.execute(
                    f"SELECT * FROM {n}" + (f" WHERE as_of_date = DATE '{latest}'" if n in SNAPSHOTS else "")
                ).fetchall(),
                key=repr,
            )
            for n in names
        }


def test_outage_then_one_run_equals_the_day_by_day_runs(spark: SparkSession, homes: Homes) -> None:
    published = [j for j in homes.size.daily_jobs if j.stage in ("gold", "features")]
    for name in [*SILVER, *[t for j in published for t in j.outputs]]:
        assertDataFrameEqual(_lake(spark, homes, homes.daily, name), _lake(spark, homes, homes.outage, name))
    daily, outage = _warehouse(homes, homes.daily), _warehouse(homes, homes.outage)
    # Tables none of whose dates was written (no reviews simulated, no model to score carts) are
    # not published; every other one is.
    written = [t for j in published for t in j.outputs if read_table(spark, t, homes.daily).limit(1).count()]
    assert sorted(daily) == sorted(written)
    for name in daily:
        assert daily[name] == outage[name], name


def test_the_live_path_agrees_with_the_daily_runs(spark: SparkSession, homes: Homes) -> None:
    """The campaign and threat tables the live path refreshed during the last day are, in the lake,
    in the warehouse and in the threat feed, those of one pass of the jobs over the same bronze rows;
    by the end of the day the refreshes had published the final ones, the daily run found nothing
    left to do for them, and every table is the full rebuild's (the test above)."""
    live, conf = homes.live, homes.daily
    for name in LIVE_TABLES:
        then = spark.read.format("delta").option("versionAsOf", live.morning_versions[name])
        assertDataFrameEqual(then.load(table_path(name, conf)), read_table(spark, name, live.morning))
    published = _warehouse(homes, conf, live.morning_warehouse)
    reference = _warehouse(homes, live.morning)
    assert sorted(reference) == sorted(LIVE_TABLES)
    for name in LIVE_TABLES:
        # The morning's refresh published the hours of the last day so far.
        assert published[name] == reference[name], name
    local_dates = {r[0] for r in reference["gold.campaign_performance_hourly"]}
    assert homes.last in local_dates, sorted(local_dates)
    feed = json.loads(live.morning.path("threat_feed").read_text())
    assert [a["actor"] for a in feed["actors"]], "no threat actor to compare"
    assert {k: v for k, v in live.morning_feed.items() if k != "generated_at"} == {
        k: v for k, v in feed.items() if k != "generated_at"
    }

    before_daily = _warehouse(homes, conf, live.before_daily_warehouse)
    final = _warehouse(homes, homes.outage)
    for name in LIVE_TABLES:
        assert before_daily[name] == final[name], name
    noop = {name: bool(r.get("noop")) for name, r in homes.reports[homes.last].items()}
    assert {name: noop[name] for name in ("silver", "gold_browsing", "gold_campaigns", "gold_threats")} == {
        "silver": True, "gold_browsing": True, "gold_campaigns": True, "gold_threats": True
    }  # fmt: skip


def test_the_late_file_is_merged_by_the_next_run(spark: SparkSession, homes: Homes) -> None:
    import gzip
    import json

    lines = gzip.decompress((homes.source / "landing" / homes.held_back).read_bytes()).decode().splitlines()
    ids = []
    for ln in lines:
        try:
            ids.append(json.loads(ln)["event_id"])
        except (ValueError, KeyError):
            continue
    silver = read_table(spark, "silver.events", homes.daily).where(F.col("event_id").isin(ids))
    by_date = {r[0]: r[1] for r in silver.groupBy("event_date").count().collect()}
    held_back_day = homes.day(homes.size.held_back)
    assert by_date.get(held_back_day, 0) > 0
    # The run for the day the file arrived rewrote the held-back day, and recorded it.
    manifest = read_table(spark, "ops.manifest", homes.daily).where(
        (F.col("job") == "silver") & (F.col("role") == "output") & (F.col("table") == "silver.events")
    )
    rewritten = {r.run_date: set(r.dates) for r in manifest.collect()}
    assert held_back_day in rewritten[homes.day(homes.size.delivered_with)]


def test_a_run_with_nothing_new_changes_no_table(spark: SparkSession, homes: Homes) -> None:
    conf = homes.daily
    names = sorted({t for j in homes.size.daily_jobs for t in j.outputs if "." in t} | {"ops.manifest"})
    before = {n: delta_version(spark, table_path(n, conf)) for n in names}
    warehouse = Path(str(conf["paths"]["warehouse"])).stat().st_mtime_ns
    t0 = time.monotonic()
    reports = _daily_run(spark, homes.last, conf, homes.size)
    took = time.monotonic() - t0
    assert {name: r.get("noop") for name, r in reports.items()} == {j.name: True for j in homes.size.daily_jobs}
    assert {n: delta_version(spark, table_path(n, conf)) for n in names} == before
    assert Path(str(conf["paths"]["warehouse"])).stat().st_mtime_ns == warehouse
    print(f"no-op daily run: {took:.1f} s")


def test_a_forced_rebuild_changes_no_row(spark: SparkSession, homes: Homes) -> None:
    if homes.size is not WEEK:
        pytest.skip("the forced rebuild of every job runs in make soak (tests/gold re-run a window with since)")
    conf = homes.outage
    names = [*SILVER, "gold.session_facts", "gold.funnel_daily"]
    if homes.size.jobs is None:
        names += ["gold.cart_abandonment", "features.user_daily"]
    before = {n: _lake(spark, homes, conf, n).collect() for n in names}
    for j in homes.size.daily_jobs:
        run(j.name, spark, homes.last, conf, since=START)
    for name in names:
        assertDataFrameEqual(_lake(spark, homes, conf, name), before[name])
