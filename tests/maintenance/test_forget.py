"""A forgotten person leaves no trace in any table, file or landing line; everyone else stays as they were."""

from __future__ import annotations

import gzip
import shutil
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import table_contracts
from jobs.common.tables import table_path
from jobs.maintenance.forget import REQUESTS, forget_users, pseudonym
from jobs.maintenance.lake import is_delta_table
from jobs.silver.privacy import pseudonym_key
from jobs.silver.reconcile import reconcile
from tests.conftest import copy_home, sim_settings

pytestmark = pytest.mark.integration


def _rows_as_text(df: DataFrame) -> DataFrame:
    return df.select(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias("row"))


def _any_of(col: Column, needles: list[str]) -> Column:
    return reduce(lambda a, b: a | b, [col.contains(n) for n in needles])


def _pick_person(spark: SparkSession, settings: Any) -> str:
    """An account logged in on two devices or more, with orders (which carry its e-mail and phone)."""
    click = spark.read.format("delta").load(table_path("bronze.clickstream_events", settings))
    orders = spark.read.format("delta").load(table_path("bronze.orders_events", settings))
    devices = (
        click.where(F.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(F.countDistinct("anonymous_id").alias("devices"))
    )
    buyers = orders.where(F.col("customer_email").isNotNull()).select("user_id").distinct()
    row = devices.where(F.col("devices") >= 2).join(buyers, "user_id").orderBy("user_id").first()
    assert row is not None, "the simulated data has no account with two devices and orders"
    return str(row["user_id"])


def _distinct(df: DataFrame, col: str) -> set[str]:
    if col not in df.columns:
        return set()
    return {r[0] for r in df.select(col).where(F.col(col).isNotNull()).distinct().collect()}


def _isin(df_cols: list[str], ids: dict[str, list[str]]) -> Column:
    """Rows holding one of the ids; a device only on rows of no account (a shared device's other account stays)."""
    parts = [
        F.col(c).isin(v) & F.col("user_id").isNull()
        if c == "anonymous_id" and "user_id" in df_cols
        else F.col(c).isin(v)
        for c, v in ids.items()
        if c in df_cols and v
    ]
    return F.coalesce(reduce(lambda a, b: a | b, parts), F.lit(False)) if parts else F.lit(False)


def _person_rows(
    spark: SparkSession, settings: Any, user: str, key: bytes
) -> tuple[dict[str, Column], dict[str, list[str]]]:
    """The person's rows in every table, by the erasure rules written out here independently, and needles."""
    lake = {n: spark.read.format("delta").load(table_path(n, settings)) for n in table_contracts()
            if is_delta_table(spark, table_path(n, settings))}  # fmt: skip
    bronze = [lake[f"bronze.{s}_events"] for s in ("clickstream", "search", "orders")]
    devices = set().union(*[_distinct(df.where(F.col("user_id") == user), "anonymous_id") for df in bronze])
    theirs = [
        df.where((F.col("user_id") == user) | (F.col("anonymous_id").isin(sorted(devices)) & F.col("user_id").isNull()))
        for df in bronze
    ]
    # A device another account was logged in on keeps that account's rows, and so its id.
    shared = set().union(
        *[_distinct(df.where(F.col("anonymous_id").isin(sorted(devices)) & (F.col("user_id") != user)), "anonymous_id")
          for df in bronze]
    )  # fmt: skip
    found = {
        c: set().union(*[_distinct(df, c) for df in theirs]) for c in ("email", "customer_email", "customer_phone")
    }
    emails = sorted(found["email"] | found["customer_email"])
    orders = sorted(set().union(*[_distinct(df, "order_id") for df in theirs]))
    carts = sorted(set().union(*[_distinct(df, "cart_id") for df in theirs]))
    pu, pd = pseudonym(user, key), sorted(pseudonym(d, key) for d in devices)
    own_session = F.col("anonymous_id").isin(pd) & (F.col("user_id").isNull() | (F.col("user_id") == pu))
    sessions = sorted(_distinct(lake["silver.sessions"].where(own_session), "session_id"))
    raw = {
        "user_id": [user],
        "anonymous_id": sorted(devices),
        "email": emails,
        "customer_email": emails,
        "customer_phone": sorted(found["customer_phone"]),
        "order_id": orders,
        "cart_id": carts,
    }
    pseudo = {"user_id": [pu], "anonymous_id": pd, "order_id": orders, "session_id": sessions, "cart_id": carts}
    tokens = sorted(set().union(*[set(v) for v in raw.values()]))
    rules: dict[str, Column] = {}
    for name, df in lake.items():
        layer = name.split(".")[0]
        if layer == "maintenance":
            continue
        if "raw_line" in df.columns:
            rules[name] = _any_of(F.col("raw_line"), [f'"{t}"' for t in tokens])
        elif layer == "bronze":
            rules[name] = _isin(df.columns, raw)
        elif "actor" in df.columns:
            rules[name] = (F.col("actor_type") == "anonymous_id") & F.col("actor").isin(pd)
        else:
            rules[name] = _isin(df.columns, pseudo)
    alone = sorted(devices - shared)
    needles = {
        "raw": [user, *alone, *emails, *sorted(found["customer_phone"])],
        "pseudo": [pu, *sorted(pseudonym(d, key) for d in alone)],
    }
    return rules, needles


def test_forget_removes_a_person_from_every_layer_file_and_landing_line(
    spark: SparkSession, sim_home: Path, tmp_path: Path
) -> None:
    home = copy_home(sim_home, tmp_path / "home")
    shutil.copytree(sim_home / "landing", home / "landing")
    settings = sim_settings(home)
    key = pseudonym_key(settings)
    user = _pick_person(spark, settings)
    person, needles = _person_rows(spark, settings, user, key)
    existing = {n: table_path(n, settings) for n in person}

    # Everyone else's rows, as text, before: what must be left exactly.
    keep: dict[str, DataFrame] = {}
    dropped: dict[str, int] = {}
    for name, path in existing.items():
        df = spark.read.format("delta").load(path)
        cond = person[name]
        keep[name] = _rows_as_text(df.where(~cond)).persist()
        dropped[name] = df.where(cond).count()
    assert dropped["bronze.orders_events"] > 0 and dropped["silver.orders"] > 0
    assert dropped["silver.identity_map"] >= 2

    result = forget_users(spark, settings, user_ids=[user], request_id="req-1")

    assert result["request_id"] == "req-1" and result["devices"] >= 2
    # The recorded reconciliation is recounted on the dates the person had events: it still holds.
    assert result["reconciliation_dates_recounted"] > 0
    assert reconcile(spark, settings).mismatches == []
    assert result["rows_deleted"] == {n: k for n, k in dropped.items() if k}
    assert result["landing"]["lines_removed"] > 0
    for name, path in existing.items():
        now = _rows_as_text(spark.read.format("delta").load(path))
        assert now.exceptAll(keep[name]).count() == 0, name
        assert keep[name].exceptAll(now).count() == 0, name

    # No trace in any table's current version, nor in any Parquet file on disk (removed files too).
    lake = Path(settings["paths"]["lake"])
    requests_dir = Path(table_path(REQUESTS, settings))
    for log_dir in sorted(lake.rglob("_delta_log")):
        folder = log_dir.parent
        allowed_pseudo = folder == requests_dir  # the request log keeps the account pseudonym by design
        look_for = needles["raw"] + ([] if allowed_pseudo else needles["pseudo"])
        current = _rows_as_text(spark.read.format("delta").load(str(folder)))
        assert current.where(_any_of(F.col("row"), look_for)).count() == 0, folder
        if not any(p for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts):
            continue  # a table no batch has written rows to yet has no data file to search
        files = _rows_as_text(spark.read.parquet(str(folder)))
        assert files.where(_any_of(F.col("row"), look_for)).count() == 0, folder
    stray = [p for p in lake.rglob("*.parquet") if not any(part == "_delta_log" for part in p.parts)]
    assert all(any(p.is_relative_to(d.parent) for d in lake.rglob("_delta_log")) for p in stray)

    # Nor in any landing line.
    hits = 0
    for f in (home / "landing").rglob("*.jsonl.gz"):
        with gzip.open(f, "rt") as fh:
            text = fh.read()
        hits += sum(text.count(f'"{n}"') for n in needles["raw"])
    assert hits == 0

    log = spark.read.format("delta").load(str(requests_dir)).collect()
    assert [(r["request_id"], r["user_pseudonym"]) for r in log] == [("req-1", pseudonym(user, key))]
    assert log[0]["rows_deleted"] == result["rows_deleted"] and log[0]["devices"] == result["devices"]
