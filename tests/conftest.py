"""One Spark session for the whole run (local[2], 2 shuffle partitions, Delta, no UI)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from filelock import FileLock
from pyspark.sql import SparkSession

from jobs.common.config import Settings, load_settings
from jobs.common.spark import get_spark

# py4j logs "closing connection" from finalizers after pytest has closed its streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "public"


def ci_settings(home: Path, **overrides: object) -> Settings:
    """CI settings rooted at ``home``, ignoring the caller's DETAK__* variables."""
    return load_settings("ci", environ={"DETAK_HOME": str(home)}, overrides=overrides or None)


#: Modules whose set-up takes minutes, slowest first. They start first, so that no process is left
#: alone with a long one at the end of ``make test`` (two processes, a module to one process).
SLOW_FIRST = (
    "tests/pipeline/test_incremental.py",
    "tests/cluster/test_cluster.py",
    "tests/bronze/test_formats.py",
    "tests/gold/test_campaigns.py",
    "tests/maintenance/test_forget.py",
    "tests/bronze/test_kafka.py",
    "tests/cluster/test_connect.py",
    "tests/gold/test_discounts.py",
    "tests/maintenance/test_housekeeping.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: i for i, module in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    conf = ci_settings(tmp_path_factory.mktemp("spark_home"))
    session = get_spark(conf, app_name="detak-tests")
    yield session
    session.stop()


@pytest.fixture(autouse=True, scope="module")
def _release_spark_memory() -> Iterator[None]:
    """After each module, drop what the one shared JVM would otherwise keep until the suite ends.

    Frames a module cached and the Delta logs of its tables (each with its snapshot's cached
    state) stay in the driver's heap: hundreds of test homes' worth filled a 4 GiB heap, and the
    garbage collector then ran most of the time (a suite several times slower, then
    ``OutOfMemoryError``). A module that never started Spark starts nothing here.
    """
    yield
    session = SparkSession.getActiveSession()
    if session is None:
        return
    session.catalog.clearCache()
    jvm = session._jvm  # type: ignore[attr-defined]
    if jvm is not None:
        jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    """Settings whose landing, lake and checkpoints live in this test's own folder."""
    return ci_settings(tmp_path / "home")


#: The shared simulated data set: four days around 11.11 (Nov 9-12) of a small population.
SIM_START = date(2026, 11, 9)
SIM_DAYS = 4
SIM_USERS = 400
SIM_SEED = 7


def sim_settings(home: Path, **overrides: object) -> Settings:
    """CI settings for the shared simulated data set, rooted at ``home``."""
    # A few small scrapers keep the bot rules busy without the volume of a real scraping day.
    bots = {"scrapers_per_day": 1, "scraper_minutes": [3, 5], "crawler_share_of_visits": 0.02}
    simulator: dict[str, object] = {"bots": bots}
    simulator.update(overrides.pop("simulator", None) or {})  # type: ignore[call-overload]
    return ci_settings(home, simulator=simulator, **overrides)


def shared_home(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """A read-only home every test process of this run shares, built once by ``build(home)``.

    ``make test`` runs the suite in several processes (pytest-xdist), each with its own temporary
    root under the run's: the first process to need the home builds it under a file lock while the
    others wait. A single-process run keeps it in its own root. A build that died half-way is
    started again.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if base.name.startswith("popen-gw") else base
    home = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (home / ".built").exists():
            shutil.rmtree(home, ignore_errors=True)
            build(home)
            (home / ".built").touch()
    return home


@pytest.fixture(scope="session")
def sim_home(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with landing files, bronze and silver for the shared simulated data set.

    Read-only for tests: one that writes tables copies it first with :func:`copy_home`. The
    simulator's truth (planted causes, sessions, bots) is under ``<home>/truth``. Built once per run
    (:func:`shared_home`).
    """
    return shared_home(
        tmp_path_factory,
        "sim",
        lambda home: simulated_silver(spark, sim_settings(home), SIM_START, SIM_DAYS, SIM_USERS, SIM_SEED),
    )


def simulated_silver(spark: SparkSession, conf: Settings, start: date, days: int, users: int, seed: int) -> Path:
    """Simulate ``days`` days from ``start`` into ``conf``'s home, ingest every source and build silver."""
    from jobs.bronze.ingest import ingest_source
    from jobs.silver.daily import run_silver
    from jobs.simulate import generate

    generate(conf.home, start, days, users, seed=seed, settings=conf, progress=False)
    for source in ("clickstream", "search", "orders"):
        ingest_source(spark, source, conf, run_id="fixture")
    run_silver(spark, start + timedelta(days=days - 1), conf)
    return conf.home


def copy_home(src: Path, dst: Path) -> Path:
    """A writable copy of a test home (lake and truth; not checkpoints or landing)."""
    for part in ("lake", "truth"):
        if (src / part).exists():
            shutil.copytree(src / part, dst / part)
    return dst
