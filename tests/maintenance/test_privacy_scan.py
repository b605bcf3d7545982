"""After forget, no file of a home that went the whole way holds the person.

A small simulated shop goes through ingest, silver, gold, features, the gate and publishing to
DuckDB and to PostgreSQL; one buyer is forgotten; then every file under the home is searched, each
read the way its format needs (Parquet decoded, gzip inflated, the DuckDB file queried), and so is a
``pg_dump`` of the PostgreSQL warehouse: for the raw account id, its pseudonym, the e-mails and
phones it gave, and the device ids and raw IPs no other account used, with their pseudonyms.

One documented exception: the ``stats`` (per-file min/max) of Delta commits and version checksums
written before the request, which stay until Delta's log cleanup (docs/maintenance.md, step 3). Everything else in
the commit log is searched, so a DELETE that logged its ids as a predicate would be found.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.bronze.ingest import run_ingest
from jobs.common.tables import read_table
from jobs.maintenance.forget import forget_users, pseudonym
from jobs.maintenance.rotate_key import rotate_key
from jobs.registry import jobs, run
from jobs.silver.privacy import pseudonym_key
from jobs.simulate import generate
from tests.conftest import sim_settings
from tests.faults.scenario import SOURCES, pg_settings
from tests.quality.helpers import pg_bin, postgres_cluster

# The whole path from landing to both warehouses, then every file searched: five minutes on 2
# cores, so a soak (`make soak`). The suite keeps forget's layer-by-layer tests
# (test_forget.py, tests/publish/test_postgres_forget.py).
pytestmark = [pytest.mark.integration, pytest.mark.soak]

START, DAYS, USERS = date(2026, 11, 10), 2, 40


def _values(df: Any, col: str) -> set[str]:
    if col not in df.columns:
        return set()
    return {r[0] for r in df.select(col).where(F.col(col).isNotNull()).distinct().collect()}


def _needles(spark: SparkSession, conf: Any) -> tuple[str, dict[str, set[str]]]:
    """A buyer with an e-mail, and every value that identifies them and no one else."""
    bronze = {s: read_table(spark, f"bronze.{s}_events", conf) for s in SOURCES}
    buyers = bronze["orders"].where(F.col("customer_email").isNotNull() & F.col("user_id").isNotNull())
    user = str(buyers.select("user_id").orderBy("user_id").first()[0])  # type: ignore[index]
    mine = {s: df.where(F.col("user_id") == user) for s, df in bronze.items()}
    others = {s: df.where(F.col("user_id").isNotNull() & (F.col("user_id") != user)) for s, df in bronze.items()}
    devices = set().union(*[_values(df, "anonymous_id") for df in mine.values()])
    shared = set().union(*[_values(df.where(F.col("anonymous_id").isin(sorted(devices))), "anonymous_id")
                           for df in others.values()])  # fmt: skip
    ips = set().union(*[_values(df, "ip") for df in mine.values()])
    other_ips = set().union(*[_values(df, "ip") for df in others.values()])
    anonymous = {s: df.where(F.col("user_id").isNull() & ~F.col("anonymous_id").isin(sorted(devices)))
                 for s, df in bronze.items()}  # fmt: skip
    other_ips |= set().union(*[_values(df, "ip") for df in anonymous.values()])
    key = pseudonym_key(conf)
    alone = devices - shared
    needles = {
        "raw id": {user},
        "pseudonym": {pseudonym(user, key)} | {pseudonym(d, key) for d in alone},
        "e-mail": set().union(*[_values(df, c) for df in mine.values() for c in ("email", "customer_email")]),
        "phone": set().union(*[_values(df, "customer_phone") for df in mine.values()]),
        "device": alone,
        "ip": ips - other_ips,
    }
    assert needles["e-mail"] and needles["device"] and needles["ip"], needles
    return user, needles


def _texts(path: Path) -> list[str]:
    """The searchable text of one file, read the way its format needs."""
    name = path.name
    if name.startswith(".") and name.endswith(".crc"):
        return []  # Hadoop's block checksums (CRC32 numbers) of the file beside: no content of it
    if path.parent.name == "_delta_log" and name.endswith(".json"):
        actions = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for action in actions:
            action.get("add", {}).pop("stats", None)  # the documented exception
        return [json.dumps(actions)]
    if path.parent.name == "_delta_log" and name.endswith(".crc"):
        checksum = json.loads(path.read_text())
        for entry in checksum.get("allFiles") or []:
            entry.pop("stats", None)  # the same per-file min/max, kept with the version's checksum
        return [json.dumps(checksum)]
    if name.endswith(".parquet"):
        rows = pq.read_table(path).to_pylist()
        if path.parent.name == "_delta_log":
            for row in rows:
                if row.get("add"):
                    row["add"].pop("stats", None)
                    row["add"].pop("stats_parsed", None)
        return [json.dumps(rows, default=str)]
    if name.endswith(".gz"):
        return [gzip.decompress(path.read_bytes()).decode("utf-8", "replace")]
    if name.endswith(".duckdb"):
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
            return [json.dumps(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall(), default=str) for s, t in tables]
    return [path.read_bytes().decode("utf-8", "replace")]


def test_after_forget_no_file_or_warehouse_holds_the_person(spark: SparkSession, tmp_path: Path) -> None:
    with postgres_cluster(tmp_path) as pg:
        source, home = tmp_path / "source", tmp_path / "home"
        generate(source, START, DAYS, USERS, seed=5, settings=sim_settings(source), progress=False, workers=1)
        shutil.copytree(source / "landing", home / "landing")
        conf = sim_settings(home)
        subprocess.run(["createdb", "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"], "shop"], check=True)
        pg_conf = pg_settings(conf, pg, "shop")
        last = START + timedelta(days=DAYS - 1)
        run_ingest(spark, SOURCES, conf, run_id="scan")
        for j in jobs("daily"):
            run(j.name, spark, last, conf)  # ... quality_gate, publish (to the DuckDB file)
        run("publish", spark, last, pg_conf)
        user, needles = _needles(spark, conf)

        def dump() -> str:
            bin_dir = pg_bin()
            assert bin_dir is not None
            cmd = [str(bin_dir / "pg_dump"), "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"], "shop"]
            return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

        # The search finds the person before: it can fail.
        before = dump()
        assert any(p in before for p in needles["pseudonym"])

        result = forget_users(spark, pg_conf, user_ids=[user], request_id="scan-1")
        assert result["failed_steps"] == {}

        found: dict[str, list[str]] = {}
        files = [p for p in sorted(home.rglob("*")) if p.is_file()]
        for path in files:
            for text in _texts(path):
                for kind, values in needles.items():
                    for value in values:
                        # The request log keeps the account's pseudonym on purpose.
                        logged = "forget_requests" in path.parts and kind == "pseudonym"
                        if value in text and not logged:
                            found.setdefault(str(path.relative_to(home)), []).append(f"{kind} {value}")
        after = dump()
        for kind, values in needles.items():
            for value in values:
                if value in after:
                    found.setdefault("pg_dump", []).append(f"{kind} {value}")
        assert found == {}
        # The scan read what it should have: the lake, landing, both warehouses' traces, GE.
        kinds = {p.suffix for p in files}
        assert {".parquet", ".gz", ".duckdb", ".json", ".html"} <= kinds, kinds

        # Then the key is rotated, and the gate and publish run as `detak rotate-key` runs them:
        # each pseudonym in both warehouses is replaced by the one the new key gives its raw id.
        translate = _translation(spark, conf, pseudonym_key(conf), NEW_KEY)
        before = {"duckdb": _duckdb_ids(conf), "postgres": _postgres_ids(pg, "shop")}
        assert rotate_key(spark, conf, pseudonym_key(conf), NEW_KEY)["republish_date"] == last
        for job, settings in (("quality_gate", conf), ("publish", conf), ("publish", pg_conf)):
            run(job, spark, last, settings)
        after = {"duckdb": _duckdb_ids(conf), "postgres": _postgres_ids(pg, "shop")}
        assert after == {k: {translate[v] for v in ids} for k, ids in before.items()}
        assert after["duckdb"] & set(translate) == set()


NEW_KEY = b"the-privacy-scan-test-s-new-key-0123456789abcdef"
ID_COLUMNS = ("user_id", "anonymous_id")


def _translation(spark: SparkSession, conf: Any, old: bytes, new: bytes) -> dict[str, str]:
    """Old pseudonym → new pseudonym of every raw id in bronze (bounded: a 40-person shop)."""
    raw: set[str] = set()
    for s in SOURCES:
        df = read_table(spark, f"bronze.{s}_events", conf)
        for c in ID_COLUMNS:
            raw |= _values(df, c)
    return {pseudonym(r, old): pseudonym(r, new) for r in raw}


def _duckdb_ids(conf: Any) -> set[str]:
    """Every value of an id column in the DuckDB warehouse."""
    with duckdb.connect(str(conf["paths"]["warehouse"]), read_only=True) as con:
        cols = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            f"WHERE column_name IN {ID_COLUMNS}"
        ).fetchall()
        return {v for s, t, c in cols for (v,) in con.execute(f'SELECT DISTINCT "{c}" FROM "{s}"."{t}"').fetchall()} - {
            None
        }


def _postgres_ids(pg: dict[str, Any], database: str) -> set[str]:
    """Every value of an id column in the PostgreSQL warehouse."""
    import psycopg

    with psycopg.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=database) as con:
        cols = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE column_name IN ('user_id', 'anonymous_id') "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {v for s, t, c in cols for (v,) in con.execute(f'SELECT DISTINCT "{c}" FROM "{s}"."{t}"').fetchall()} - {
            None
        }
