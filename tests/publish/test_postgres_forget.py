"""Erasure reaches the PostgreSQL warehouse when it is the publishing target.

The tables stand in for published ones (an id-bearing fact table, a feature table, an aggregate
with no id) and a staging table a dead publish left behind; the request runs through the same
``erase`` that ``detak forget`` calls, on an empty lake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.maintenance.forget import erase
from jobs.publish.warehouse import PostgresWarehouse
from tests.conftest import ci_settings
from tests.quality.helpers import postgres_cluster

pytestmark = pytest.mark.integration

TABLES = {
    "gold.session_facts": ("session_id text, anonymous_id text, user_id text, pages bigint", [
        ("s1", "dA", "pA", 3), ("s2", "dA", None, 1), ("s3", "dB", "pB", 5), ("s4", "dA", "pB", 2),
    ]),
    "features.user_daily": ("user_id text, orders bigint", [("pA", 1), ("pB", 2)]),
    "gold.funnel_daily": ("channel text, sessions bigint", [("web", 9)]),
    "gold._stage_session_facts_0a1b": ("session_id text, user_id text", [("s1", "pA"), ("s3", "pB")]),
}  # fmt: skip


def _load(wh: PostgresWarehouse) -> None:
    with wh.transaction() as cur:
        for name, (cols, rows) in TABLES.items():
            schema = name.split(".")[0]
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cur.execute(f"CREATE TABLE {name} ({cols})")
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)


def _rows(wh: PostgresWarehouse) -> dict[str, set[tuple[object, ...]]]:
    with wh.transaction() as cur:
        out = {}
        for name in TABLES:
            cur.execute(f"SELECT * FROM {name}")
            out[name] = {tuple(r) for r in cur.fetchall()}
        return out


def test_forget_deletes_the_persons_rows_from_every_postgres_table(spark: SparkSession, tmp_path: Path) -> None:
    with postgres_cluster(tmp_path) as pg:
        settings = ci_settings(tmp_path / "home", warehouse={"target": "postgres", "postgres": pg})
        wh = PostgresWarehouse(settings)
        _load(wh)

        # Account pA; an empty lake knows no device of theirs, so only their account's rows go.
        result = erase(spark, settings, {"pA"})

        assert result["warehouse_rows_deleted"] == {
            "postgres:features.user_daily": 1,
            "postgres:gold._stage_session_facts_0a1b": 1,
            "postgres:gold.session_facts": 1,
        }
        expected = {name: set(rows) for name, (_, rows) in TABLES.items()}
        expected["gold.session_facts"].discard(("s1", "dA", "pA", 3))
        expected["features.user_daily"].discard(("pA", 1))
        expected["gold._stage_session_facts_0a1b"].discard(("s1", "pA"))
        assert _rows(wh) == expected

        # A device id and a session id as well: every row holding one goes, once, except the rows
        # another account (pB) had on the shared device dA.
        ids = {"anonymous_id": ["dA"], "session_id": ["s3"], "cart_id": ["c9"]}
        found = wh.forget(ids, ["anonymous_id", "session_id", "cart_id"])
        assert found == {"gold.session_facts": 2, "gold._stage_session_facts_0a1b": 1}
        assert _rows(wh)["gold.session_facts"] == {("s4", "dA", "pB", 2)}
        assert wh.forget({"user_id": []}, ["user_id"]) == {}
