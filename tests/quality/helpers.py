"""Shared helpers of the quality and publishing tests: test contracts, tiny funnel frames, PostgreSQL."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from jobs.common import contracts
from jobs.common.config import Settings
from jobs.common.tables import ensure_table, replace_dates

CONTRACTS = Path(__file__).resolve().parent / "contracts"
FUNNEL = "test.funnel_daily"
STEPS = ["session", "product_view", "add_to_cart", "purchase"]

#: Alerts received by :func:`record_alert` (the alert callback the tests configure).
ALERTS: list[dict[str, Any]] = []


def record_alert(alert: dict[str, Any]) -> None:
    ALERTS.append(alert)


@contextmanager
def extra_contracts() -> Iterator[None]:
    """Make the test contracts (tests/quality/contracts) known while the block runs."""
    contracts.register_contracts_dir(CONTRACTS)
    try:
        yield
    finally:
        contracts._EXTRA_CONTRACT_DIRS.remove(CONTRACTS.resolve())
        contracts.table_contracts.cache_clear()


def funnel_rows(day: date, counts: list[int], channel: str | None = "organic", device: str = "mobile") -> list[tuple]:
    """Rows of one funnel segment of ``day``: ``counts`` sessions per step, revenue at purchase."""
    return [
        (day, channel, device, "Jawa Barat", "fashion", step, i, n, n * 100_000 if step == "purchase" else 0)
        for i, (step, n) in enumerate(zip(STEPS, counts, strict=True))
    ]


def funnel_frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, schema=contracts.table(FUNNEL).spark_schema)


def write_funnel(spark: SparkSession, rows: list[tuple], day: date, settings: Settings) -> None:
    ensure_table(spark, FUNNEL, settings)
    replace_dates(funnel_frame(spark, rows), FUNNEL, day, day, settings)


# ------------------------------------------------------------------------------------------------
# A throwaway PostgreSQL cluster


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """initdb + pg_ctl start on a free loopback port; stopped and removed afterwards.

    PostgreSQL refuses to run as root: then the cluster runs as the ``postgres`` system user (or
    ``nobody``) in a folder that user owns.
    """
    bin_dir = pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries missing in CI: apt-get install -y postgresql")
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
        # tmp_path is private to root; the server needs a folder its own user can reach.
        base = Path(tempfile.mkdtemp(prefix="detak-pg-"))
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        run_as = ["runuser", "-u", user, "--"]
    else:
        base = tmp_path / "pg"
        base.mkdir()
    data, sockets = base / "data", base / "sock"
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run([*run_as, "mkdir", "-p", str(sockets)], check=True)
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "detak", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        env=env,
    )
    options = f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "detak", "detak"],
            check=True,
            capture_output=True,
        )
        yield {"host": "127.0.0.1", "port": port, "database": "detak", "user": "detak"}
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=env,
        )
        time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)
