"""Pure rules of maintenance and forget requests, on tiny inline frames."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import ContractError, TableContract, _check_zorder, table
from jobs.common.tables import ensure_table
from jobs.maintenance.forget import (
    ID_COLUMNS,
    Person,
    delete_ids,
    landing_file,
    line_mentions,
    match_any,
    mentions_any,
    pseudonym,
    read_requests,
    rewrite_landing,
)
from jobs.maintenance.housekeeping import check_params, cutoff, old_landing_folders, retention_column
from jobs.publish.warehouse import DuckDBWarehouse
from jobs.silver.privacy import hmac_sha256
from tests.conftest import ci_settings


def test_python_pseudonym_equals_the_spark_expression(spark: SparkSession) -> None:
    key = b"k" * 70  # longer than a block: hashed first, in both
    df = spark.createDataFrame([("u-1",), ("bügi@x.id",)], "v string")
    got = {r["v"]: r["p"] for r in df.select("v", hmac_sha256(F.col("v"), key).alias("p")).collect()}
    assert got == {v: pseudonym(v, key) for v in got}


def test_match_any_uses_only_present_columns_with_ids(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", "d1", None), ("b", "d2", "o1"), ("c", "d3", "o9"), (None, "d3", "o8"), ("d", None, None)],
        "user_id string, anonymous_id string, note string",
    )
    cond = match_any(df.columns, {"user_id": {"a"}, "anonymous_id": {"d3"}, "order_id": {"o1"}, "note": set()})
    assert cond is not None
    # d3 is shared with account c: only its rows of no account go with the person.
    expected = spark.createDataFrame([("a", "d1", None), (None, "d3", "o8")], df.schema)
    assertDataFrameEqual(df.where(cond), expected)
    assert match_any(["x"], {"user_id": {"a"}}) is None


def test_mentions_any_matches_whole_json_strings(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [('{"user_id": "u12"}',), ('{"user_id": "u123"}',), ('{"email": "a@b.id", "x": 1',), ("plain u12",)],
        "raw_line string",
    )
    cond = mentions_any(F.col("raw_line"), ["u12", "a@b.id"])
    assert cond is not None
    expected = spark.createDataFrame([('{"user_id": "u12"}',), ('{"email": "a@b.id", "x": 1',)], df.schema)
    assertDataFrameEqual(df.where(cond), expected)


def test_line_mentions_by_field_or_by_raw_value() -> None:
    ids = {"user_id": {"u1"}, "anonymous_id": {"d1"}, "email": {"a@b.id"}}
    tokens = {"u1", "d1", "a@b.id"}
    assert line_mentions('{"user_id": "u1", "anonymous_id": "zz"}', ids, tokens)
    assert line_mentions('{"user_id":null,"anonymous_id":"d1"}', ids, tokens)
    assert line_mentions('{"email": "a@b.id", "trunc', ids, tokens)  # malformed line
    assert not line_mentions('{"user_id": "u11", "anonymous_id": "d10"}', ids, tokens)
    # Another account's line on a device it shares with the person stays.
    assert not line_mentions('{"user_id": "u2", "anonymous_id": "d1"}', ids, tokens)
    assert not line_mentions("", ids, tokens)


def test_rewrite_landing_keeps_other_lines_and_the_modification_time(tmp_path: Path) -> None:
    mixed, only = tmp_path / "part-00000.jsonl.gz", tmp_path / "part-00001.jsonl.gz"
    lines = [json.dumps({"user_id": u, "anonymous_id": d}) for u, d in [("u1", "d1"), ("u2", "d2"), (None, "d1")]]
    with gzip.open(mixed, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    with gzip.open(only, "wt") as fh:
        fh.write(lines[0] + "\n")
    os.utime(mixed, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    person = Person(users={"p"}, raw={"user_id": {"u1"}, "anonymous_id": {"d1"}})
    out = rewrite_landing([f"file://{mixed}", str(only), f"file://{tmp_path}/gone.jsonl.gz"], person, tmp_path, [])
    assert out == {"files_rewritten": 1, "files_deleted": 1, "lines_removed": 3, "files_skipped": 1}
    with gzip.open(mixed, "rt") as fh:
        assert fh.read() == lines[1] + "\n"
    assert mixed.stat().st_mtime_ns == 1_700_000_000_000_000_000
    assert not only.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.jsonl.gz"]


def test_rewrite_landing_reports_an_unreadable_file_and_rewrites_the_others(tmp_path: Path) -> None:
    good, cut = tmp_path / "part-00000.jsonl.gz", tmp_path / "part-00001.jsonl.gz"
    lines = [json.dumps({"user_id": u}) for u in ("u1", "u2")]
    for f in (good, cut):
        with gzip.open(f, "wt") as fh:
            fh.write("\n".join(lines) + "\n")
    cut.write_bytes(cut.read_bytes()[:-12])  # a collector that died mid-upload
    before = cut.read_bytes()
    person = Person(users={"p"}, raw={"user_id": {"u1"}})
    out = rewrite_landing([str(cut), str(good)], person, tmp_path, [])
    assert out == {
        "files_rewritten": 1,
        "files_deleted": 0,
        "lines_removed": 1,
        "files_skipped": 0,
        "unreadable": [str(cut)],
    }
    with gzip.open(good, "rt") as fh:
        assert fh.read() == lines[1] + "\n"
    assert cut.read_bytes() == before


def test_read_requests_skips_blanks_and_comments(tmp_path: Path) -> None:
    f = tmp_path / "requests.txt"
    f.write_text("# ticket 17\nu-1\n\n  u-2  # by e-mail\n")
    assert read_requests(f) == ["u-1", "u-2"]


def test_retention_applies_to_bronze_tables_partitioned_by_a_date() -> None:
    assert retention_column(table("bronze.clickstream_events")) == "event_date"
    assert retention_column(table("bronze.quarantine")) == "ingest_date"
    assert retention_column(table("bronze.ingest_runs")) is None
    assert retention_column(table("silver.events")) is None
    assert cutoff(date(2026, 11, 16), 6) == date(2026, 11, 10)


def test_retention_may_not_starve_the_daily_silver_job(tmp_path: Path) -> None:
    check_params(ci_settings(tmp_path))  # the defaults are fine
    with pytest.raises(ValueError, match="bronze_retention_days"):
        check_params(ci_settings(tmp_path, maintenance={"bronze_retention_days": 5}))


def test_old_landing_folders(tmp_path: Path) -> None:
    for name in ("clickstream/date=2026-11-08", "clickstream/date=2026-11-10", "orders/date=2026-11-01", "x/other"):
        (tmp_path / name).mkdir(parents=True)
    assert old_landing_folders(tmp_path, date(2026, 11, 10)) == [
        tmp_path / "clickstream/date=2026-11-08",
        tmp_path / "orders/date=2026-11-01",
    ]


def test_zorder_columns_must_be_plain_columns() -> None:
    base = table("silver.events")
    fields = {k: getattr(base, k) for k in ("name", "description", "grain", "path", "partition_by", "columns")}
    _check_zorder(TableContract(**fields, zorder_by=["anonymous_id"]))
    with pytest.raises(ContractError, match="partition column"):
        _check_zorder(TableContract(**fields, zorder_by=["event_date"]))
    with pytest.raises(ContractError, match="not a column"):
        _check_zorder(TableContract(**fields, zorder_by=["nope"]))
    assert table("silver.events").zorder_by == ["anonymous_id", "event_type"]


def test_landing_file_stays_inside_landing(tmp_path: Path) -> None:
    landing = tmp_path / "home" / "landing"
    inside = landing / "orders" / "date=2026-11-11" / "hour=01" / "part-00000.jsonl.gz"
    assert landing_file(f"file://{inside}", landing, ["orders"]) == inside
    # A home copied after ingestion: re-rooted at the source folder.
    moved = "file:///elsewhere/landing/orders/date=2026-11-11/hour=01/part-00000.jsonl.gz"
    assert landing_file(moved, landing, ["orders", "search"]) == inside
    assert landing_file("file:///etc/passwd", landing, ["orders"]) is None
    assert landing_file("s3a://bucket/landing/orders/x.jsonl.gz", landing, ["orders"]) is None


def test_delete_ids_leaves_no_id_in_the_commit_log(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "verdicts")
    ensure_table(spark, "silver.actor_verdicts", path=path)
    rows = [
        (date(2026, 11, 11), kind, actor, ["headless"], 3, None, None, {})
        for kind, actor in [("anonymous_id", "secret-device"), ("ip", "secret-device"), ("anonymous_id", "other")]
    ]
    df = spark.createDataFrame(
        rows, "d date, k string, a string, r array<string>, e long, f timestamp, l timestamp, m map<string,double>"
    )
    df = df.withColumn("f", F.lit("2026-11-11 01:00:00").cast("timestamp")).withColumn("l", F.col("f"))
    df.toDF(*[c.name for c in table("silver.actor_verdicts").columns]).write.format("delta").mode("append").save(path)
    person = Person(users={"secret-user"}, devices={"secret-device"})

    assert delete_ids(spark, path, table("silver.actor_verdicts"), person) == 1

    left = {(r["actor_type"], r["actor"]) for r in spark.read.format("delta").load(path).collect()}
    assert left == {("ip", "secret-device"), ("anonymous_id", "other")}
    newest = sorted((tmp_path / "verdicts" / "_delta_log").glob("*.json"))[-1].read_text().splitlines()
    commit = next(json.loads(line)["commitInfo"] for line in newest if '"commitInfo"' in line)
    # The logged operation names columns only (the file statistics hold the rows that stay).
    assert commit["operation"] == "MERGE" and "secret" not in json.dumps(commit)


def test_delete_ids_leaves_another_accounts_rows_on_a_shared_device(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "identity")
    ensure_table(spark, "silver.identity_map", path=path)
    seen = "2026-11-11 01:00:00"
    rows = [("d1", "A"), ("d1", "B"), ("d2", "A"), ("d3", "B")]
    df = spark.createDataFrame([(d, u, seen, seen) for d, u in rows], "a string, u string, f string, l string")
    df = df.select("a", "u", *[F.col(c).cast("timestamp") for c in ("f", "l")])
    df.toDF(*[c.name for c in table("silver.identity_map").columns]).write.format("delta").mode("append").save(path)
    person = Person(users={"A"}, devices={"d1", "d2"})

    assert delete_ids(spark, path, table("silver.identity_map"), person) == 2

    left = {(r["anonymous_id"], r["user_id"]) for r in spark.read.format("delta").load(path).collect()}
    assert left == {("d1", "B"), ("d3", "B")}


def test_duckdb_forget_deletes_from_every_table_with_an_id_column(tmp_path: Path) -> None:
    import duckdb

    settings = ci_settings(tmp_path)
    target = Path(settings["paths"]["warehouse"])
    target.parent.mkdir(parents=True)
    con = duckdb.connect(str(target))
    con.execute("CREATE SCHEMA gold")
    con.execute("CREATE TABLE gold.sessions (session_id VARCHAR, anonymous_id VARCHAR, user_id VARCHAR, n INT)")
    con.execute(
        "INSERT INTO gold.sessions VALUES ('s1', 'd1', 'p1', 1), ('s2', 'd2', 'p2', 2), ('s3', 'd3', NULL, 3), "
        "('s4', 'd1', 'p2', 4), ('s5', 'd1', NULL, 5)"
    )
    con.execute("CREATE TABLE main.daily (day DATE, n INT)")
    con.execute("INSERT INTO main.daily VALUES (DATE '2026-11-11', 5)")
    con.execute("CREATE VIEW main.v AS SELECT * FROM gold.sessions")
    con.close()

    deleted = DuckDBWarehouse(settings).forget(
        {"user_id": ["p1"], "session_id": ["s3"], "anonymous_id": ["d1"]}, ID_COLUMNS
    )

    # d1 is shared with account p2: its session s4 stays.
    assert deleted == {"gold.sessions": 3}
    con = duckdb.connect(str(target))
    assert con.execute("SELECT session_id FROM gold.sessions ORDER BY 1").fetchall() == [("s2",), ("s4",)]
    assert con.execute("SELECT count(*) FROM main.daily").fetchall() == [(1,)]
    con.close()
    assert DuckDBWarehouse(ci_settings(tmp_path / "none")).forget({"user_id": ["p1"]}, ID_COLUMNS) == {}
    assert not (tmp_path / "none").exists()  # no warehouse file is made by looking
