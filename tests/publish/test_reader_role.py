"""The read-only PostgreSQL role of docs/bi.md, set up by the SQL printed there, against real publishes.

The SQL block is read from the page, so the documentation and what is tested cannot drift apart.
Publishing goes through the publisher's own swap (the step after Spark has loaded the staging
table), so no Spark session is needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from jobs.common.contracts import table
from jobs.publish.warehouse import PostgresWarehouse
from tests.conftest import ci_settings
from tests.quality.helpers import postgres_cluster

REPO = Path(__file__).resolve().parents[2]
CONTRACT = table("gold.funnel_daily")
#: One staged value per warehouse column type (timestamps are staged as epoch microseconds).
VALUES = {"text": "'x'", "bigint": "7", "integer": "1", "double precision": "0.5", "date": "DATE '2026-11-11'",
          "boolean": "true", "timestamptz": "0", "timestamp": "0", "jsonb": "'[]'"}  # fmt: skip


def _reader_sql() -> str:
    text = (REPO / "docs" / "bi.md").read_text(encoding="utf-8")
    section = text[text.index("## PostgreSQL") :]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "docs/bi.md's PostgreSQL section has one sql block: the reader role's set-up"
    return blocks[0]


def _stage(wh: PostgresWarehouse, cur: Any) -> str:
    """A staging table of one row, shaped like the one Spark's JDBC writer leaves for the swap."""
    stage = wh.stage_name(CONTRACT)
    cols, values = [], []
    for c in CONTRACT.columns:
        kind = wh.column_type(c)
        staged = "bigint" if kind.startswith("timestamp") else kind
        cols.append(f'"{c.name}" {staged}')
        values.append(VALUES[kind])
    cur.execute(f"CREATE TABLE {stage} ({', '.join(cols)})")
    cur.execute(f"INSERT INTO {stage} VALUES ({', '.join(values)})")
    return stage


def test_the_documented_reader_role_reads_what_is_published_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with postgres_cluster(tmp_path) as pg:
        settings = ci_settings(tmp_path / "home", warehouse={"postgres": pg})
        wh = PostgresWarehouse(settings)
        with wh.transaction() as cur:
            cur.execute(_reader_sql())
            # An older shape of the table, so the publish below drops and re-creates it.
            cur.execute('CREATE TABLE gold.funnel_daily ("date" date)')
        with wh.transaction() as cur:
            stage = _stage(wh, cur)
        assert wh.swap(CONTRACT, stage, None) == 1

        reader = {**pg, "user": "detak_reader"}
        with psycopg.connect(dbname=reader.pop("database"), **reader, autocommit=True) as con:
            got = con.execute("SELECT date, channel, sessions FROM gold.funnel_daily").fetchall()
            assert [(str(d), ch, n) for d, ch, n in got] == [("2026-11-11", "x", 7)]
            for sql in (
                "INSERT INTO gold.funnel_daily SELECT * FROM gold.funnel_daily",
                "DELETE FROM gold.funnel_daily",
                "DROP TABLE gold.funnel_daily",
                "CREATE TABLE gold.mine (x int)",
                "CREATE SCHEMA mine",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    con.execute(sql)

        # `detak sql` connects as that role, read-only: it reads, it cannot write, and without
        # the role it says what to do on one line.
        _detak_sql_as_reader(pg, tmp_path, capsys)


def _detak_sql_as_reader(pg: dict[str, Any], home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from jobs.cli import main
    from jobs.commands import settings
    from jobs.common.text import format_table
    from tests.test_cli import one_error_line

    env = {
        "DETAK_ENV": "ci",
        "DETAK_HOME": str(home / "cli"),
        "DETAK__WAREHOUSE__TARGET": "postgres",
        **{f"DETAK__WAREHOUSE__POSTGRES__{k.upper()}": str(v) for k, v in pg.items()},
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("DETAK")]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        settings.cache_clear()
        try:
            capsys.readouterr()
            assert main(["sql", "SELECT current_user, channel, sessions FROM gold.funnel_daily"]) == 0
            out = capsys.readouterr().out
            assert out == format_table(["current_user", "channel", "sessions"], [["detak_reader", "x", 7]]) + "\n"
            assert main(["sql", "DELETE FROM gold.funnel_daily"]) == 2
            assert one_error_line(capsys.readouterr().err) == (
                "query failed: cannot execute DELETE in a read-only transaction"
            )
            mp.setenv("DETAK__WAREHOUSE__POSTGRES__READER_USER", "nobody_here")
            settings.cache_clear()
            assert main(["sql", "SELECT 1"]) == 2
            line = one_error_line(capsys.readouterr().err)
            where = f"postgres:{pg['host']}:{pg['port']}/{pg['database']}"
            assert line.startswith(f"cannot connect to {where} as the read-only role 'nobody_here' (")
            assert 'role "nobody_here" does not exist' in line
            assert line.endswith("): create it with the SQL in docs/bi.md, or set warehouse.postgres.reader_user")
        finally:
            settings.cache_clear()
