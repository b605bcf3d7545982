"""Warehouse targets: load a staging table, then swap it into the stable name in one transaction.

Two targets, chosen by ``warehouse.target`` (or per call):

- ``duckdb``: the file ``paths.warehouse``. Spark writes the snapshot to Parquet under
  ``warehouse.staging_dir`` (DuckDB's own Delta reader is an extension that cannot be downloaded
  here), DuckDB loads it with the built-in ``read_parquet`` into a staging table.
- ``postgres``: Spark's JDBC writer loads the staging table, psycopg runs the swap.

The swap is one transaction: create the table from the contract when missing, delete the published
dates (every row of an unpartitioned table), insert the staging rows with the contract's types, set
the table and column comments from the contract, drop the staging table. A reader sees the old rows
or the new ones, never a mix; a run that dies before the swap leaves the stable table untouched.

Warehouse tables live at ``<layer>.<table>`` (schema = the lake layer), the lake table's name.
Columns keep the contract's types; ``timestamp`` is an instant (``TIMESTAMPTZ``), ``timestamp_ntz``
a wall-clock time (``TIMESTAMP``) and arrays, maps and structs are JSON.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.config import Settings
from jobs.common.contracts import Column, TableContract, parse_type
from jobs.common.errors import UserError


class InjectedFailure(RuntimeError):
    """Raised by the ``fail_after`` test hook."""


class PublishError(RuntimeError):
    """A table cannot be published as asked."""


class UnknownTargetError(PublishError, UserError):
    """A warehouse target that does not exist (a user's ``--target`` or ``warehouse.target``)."""


_DUCKDB_TYPES = {
    T.StringType: "VARCHAR",
    T.LongType: "BIGINT",
    T.IntegerType: "INTEGER",
    T.DoubleType: "DOUBLE",
    T.BooleanType: "BOOLEAN",
    T.DateType: "DATE",
    T.TimestampType: "TIMESTAMPTZ",
    T.TimestampNTZType: "TIMESTAMP",
}
_POSTGRES_TYPES = {
    T.StringType: "text",
    T.LongType: "bigint",
    T.IntegerType: "integer",
    T.DoubleType: "double precision",
    T.BooleanType: "boolean",
    T.DateType: "date",
    T.TimestampType: "timestamptz",
    T.TimestampNTZType: "timestamp",
}


def _kind(col: Column) -> type[T.DataType]:
    return type(parse_type(col.type))


def staging_frame(df: DataFrame, contract: TableContract) -> DataFrame:
    """The contract's columns in a form every loader carries without loss or time-zone shifts.

    Instants become epoch microseconds, wall-clock times ISO text, nested values JSON text; the
    swap turns them back into the warehouse types.
    """
    out: list[SparkColumn] = []
    for col in contract.columns:
        kind = _kind(col)
        src = F.col(col.name)
        if kind is T.TimestampType:
            out.append(F.unix_micros(src).alias(col.name))
        elif kind is T.TimestampNTZType:
            out.append(F.date_format(src, "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(col.name))
        elif kind in (T.ArrayType, T.MapType, T.StructType):
            out.append(F.to_json(src).alias(col.name))
        else:
            out.append(src.cast(parse_type(col.type)).alias(col.name))
    return df.select(out)


#: Columns of base tables (not views), for erasure: (schema, table, column) rows.
_BASE_TABLE_COLUMNS = (
    "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
    "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
    "WHERE t.table_type = 'BASE TABLE'"
)


def _by_table(rows: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for schema, name, col in rows:
        out.setdefault((schema, name), set()).add(col)
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: The DuckDB write sessions open in this process: resolved warehouse path → the draft's connection.
_DUCKDB_SESSIONS: dict[str, Any] = {}


#: The warehouse's own record of each published table: what the last publication attempt found
#: (published, or blocked by the quality gate and why) and what readers see now (the version, when
#: it was published, its newest date and rows). Written in the transaction that swaps the table's
#: rows, so it never disagrees with them; read by the report and by BI tools (docs/bi.md).
STATUS_TABLE = "quality.table_status"
_STATUS_COLUMNS = (
    ("table_name", "text NOT NULL"),
    ("status", "text NOT NULL"),
    ("detail", "text NOT NULL"),
    ("delta_version", "bigint NOT NULL"),
    ("attempted_at", "timestamptz NOT NULL"),
    ("published_version", "bigint"),
    ("published_at", "timestamptz"),
    ("latest_date", "date"),
    ("row_count", "bigint"),
)


def _sql_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"timestamptz '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    return _literal(str(value))


def split_name(table_name: str) -> tuple[str, str]:
    schema, _, name = table_name.partition(".")
    return schema, name


class Warehouse:
    """One warehouse target (a subclass per kind)."""

    kind = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        """Identifier of the target in ``quality.publish_log``."""
        raise NotImplementedError

    # -- per target
    def column_type(self, col: Column) -> str:
        raise NotImplementedError

    def cast(self, col: Column, source: str) -> str:
        raise NotImplementedError

    def load_staging(self, frame: DataFrame, contract: TableContract, stage: str) -> None:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    @contextmanager
    def session(self) -> Iterator[None]:
        """Group the writes of one job (a publish run, an erasure): what readers see changes once,
        at the end, where the target can do that (a DuckDB file); elsewhere each transaction stands
        alone (PostgreSQL's own transactions already keep readers and the writer apart)."""
        yield

    def existing_columns(self, cur: Any, schema: str, name: str) -> list[str]:
        raise NotImplementedError

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.query_with_columns(sql)[1]

    def query_with_columns(self, sql: str, as_reader: bool = False) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a query; ``as_reader``: with read-only rights (``detak sql``)."""
        raise NotImplementedError

    def cleanup(self, stage: str) -> None:
        """Remove what loading the staging table left outside the warehouse."""

    # -- erasure (jobs/maintenance/forget.py), per target
    def _holds_data(self) -> bool:
        """Whether there is a warehouse to erase from (a DuckDB file may not exist yet)."""
        return True

    def _base_table_columns(self, cur: Any) -> dict[tuple[str, str], set[str]]:
        """Columns of every user base table (views excluded), by (schema, table)."""
        raise NotImplementedError

    def _delete_matching(self, cur: Any, schema: str, name: str, column: str, values: list[str], guard: str) -> int:
        """DELETE the rows whose ``column`` equals one of ``values`` (and ``guard``); rows deleted."""
        raise NotImplementedError

    def _compact(self, tables: list[str]) -> None:
        """Rewrite storage so that deleted rows leave the files."""

    def forget(self, ids: Mapping[str, Iterable[str]], columns: Iterable[str]) -> dict[str, int]:
        """Delete rows holding one of ``ids`` (values by column) from every table; rows deleted per table.

        Every user table is looked at, left-over staging tables included. The deletes are one
        transaction, each an equality match on one column; on a shared device (a table with both
        ids), an ``anonymous_id`` matches only rows with no account, since another account's rows
        are that account's. The touched tables are then compacted (:meth:`_compact`).
        """
        wanted = {c: sorted(set(v)) for c, v in ids.items() if c in set(columns) and v}
        if not wanted or not self._holds_data():
            return {}
        deleted: dict[str, int] = {}
        with self.session():
            with self.transaction() as cur:
                for (schema, name), present in sorted(self._base_table_columns(cur).items()):
                    n = 0
                    for col in sorted(present & set(wanted)):
                        guard = ' AND "user_id" IS NULL' if col == "anonymous_id" and "user_id" in present else ""
                        n += self._delete_matching(cur, schema, name, col, wanted[col], guard)
                    if n:
                        deleted[f"{schema}.{name}"] = n
            if deleted:
                self._compact(sorted(deleted))
        return deleted

    # -- shared
    def stage_name(self, contract: TableContract) -> str:
        schema, name = split_name(contract.name)
        return f"{_quote(schema)}.{_quote('_stage_' + name)}"

    def swap(self, contract: TableContract, stage: str, dates: list[date] | None, version: int | None = None) -> int:
        """Replace ``dates`` (all rows when None) of the stable table by the staging rows, atomically;
        with the lake ``version`` they came from, record the publication in :data:`STATUS_TABLE`."""
        schema, name = split_name(contract.name)
        target = f"{_quote(schema)}.{_quote(name)}"
        cols = ", ".join(_quote(c.name) for c in contract.columns)
        casts = ", ".join(self.cast(c, _quote(c.name)) for c in contract.columns)
        definition = ", ".join(
            f"{_quote(c.name)} {self.column_type(c)}{'' if c.nullable else ' NOT NULL'}" for c in contract.columns
        )
        with self.transaction() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            existing = self.existing_columns(cur, schema, name)
            wanted = [c.name for c in contract.columns]
            if existing and existing != wanted and existing == wanted[: len(existing)]:
                # The contract only gained columns at its end: add them (nullable, as the lake's
                # table gained them), keeping the dates this publication does not replace.
                for c in contract.columns[len(existing) :]:
                    cur.execute(f"ALTER TABLE {target} ADD COLUMN {_quote(c.name)} {self.column_type(c)}")
                existing = wanted
            if existing and existing != wanted:
                if dates is not None:
                    raise PublishError(
                        f"{contract.name} in {self.name} has columns {existing}, the contract has "
                        f"{[c.name for c in contract.columns]}: migrate the warehouse table first"
                    )
                # A whole-table publication can take the contract's new shape in the same swap.
                cur.execute(f"DROP TABLE {target}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {target} ({definition})")
            if dates is None:
                cur.execute(f"DELETE FROM {target}")
            else:
                column = _quote(contract.partition_by[0])
                listed = ", ".join(f"DATE '{d}'" for d in dates)
                cur.execute(f"DELETE FROM {target} WHERE {column} IN ({listed})")
            cur.execute(f"INSERT INTO {target} ({cols}) SELECT {casts} FROM {stage}")
            cur.execute(f"SELECT count(*) FROM {stage}")
            rows = int(cur.fetchone()[0])
            description = f"{contract.description} Grain: {contract.grain}."
            cur.execute(f"COMMENT ON TABLE {target} IS {_literal(description)}")
            for c in contract.columns:
                cur.execute(f"COMMENT ON COLUMN {target}.{_quote(c.name)} IS {_literal(c.description)}")
            cur.execute(f"DROP TABLE {stage}")
            if version is not None:
                self._write_status(cur, contract, "published", version, "")
        return rows

    def record_status(self, contract: TableContract, status: str, version: int, detail: str) -> None:
        """Record in :data:`STATUS_TABLE` a publication that did not happen (``status`` blocked or
        failed, and why); what readers see, the last published version, stays as it was."""
        with self.transaction() as cur:
            self._write_status(cur, contract, status, version, detail)

    def _write_status(self, cur: Any, contract: TableContract, status: str, version: int, detail: str) -> None:
        schema, name = split_name(contract.name)
        target = f"{_quote(schema)}.{_quote(name)}"
        definition = ", ".join(f"{_quote(c)} {t}" for c, t in _STATUS_COLUMNS)
        cur.execute("CREATE SCHEMA IF NOT EXISTS quality")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {STATUS_TABLE} ({definition})")
        key = f"table_name = {_literal(contract.name)}"
        if status == "published":
            newest = f"MAX({_quote(contract.partition_by[0])})" if contract.partition_by else "NULL"
            cur.execute(f"SELECT {newest}, COUNT(*) FROM {target}")
            latest, rows = cur.fetchone()
            shown: tuple[Any, ...] = (version, datetime.now(UTC), latest, int(rows))
        else:
            cur.execute(
                f"SELECT published_version, published_at, latest_date, row_count FROM {STATUS_TABLE} WHERE {key}"
            )
            shown = tuple(cur.fetchone() or (None, None, None, None))
        values = (contract.name, status, detail[:2000], version, datetime.now(UTC), *shown)
        cur.execute(f"DELETE FROM {STATUS_TABLE} WHERE {key}")
        cur.execute(f"INSERT INTO {STATUS_TABLE} VALUES ({', '.join(_sql_value(v) for v in values)})")


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.path = Path(settings["paths"]["warehouse"])
        self.staging_dir = str(settings["warehouse"]["staging_dir"])

    @property
    def name(self) -> str:
        return f"duckdb:{self.path}"

    def column_type(self, col: Column) -> str:
        return _DUCKDB_TYPES.get(_kind(col), "JSON")

    def cast(self, col: Column, source: str) -> str:
        kind = _kind(col)
        if kind is T.TimestampType:
            return f"CAST(make_timestamp({source}) AS TIMESTAMPTZ)"
        return f"CAST({source} AS {self.column_type(col)})"

    @contextmanager
    def session(self) -> Iterator[None]:
        """Copy-on-write: the writes inside go to a copy of the file, which replaces the file in one
        rename at the end (nothing changes when the block fails).

        A DuckDB file has one writer or any number of readers, never both: a BI tool holding the
        file open would make every publish fail, and a publish would make every tool's connection
        fail. Writing a copy and renaming it over the file keeps them apart. A reader connected
        before the rename keeps reading the file it opened, unchanged; one that connects after it
        reads the new file. Writers queue on a lock file beside the warehouse. Each write outside a
        session is a session of its own; a publish run or an erasure opens one around all its
        tables, so the file is copied once per run.
        """
        key = str(self.path.resolve())
        if key in _DUCKDB_SESSIONS:
            yield
            return
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".writer.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            draft = self.path.with_name(f"{self.path.name}.draft-{uuid.uuid4().hex[:8]}")
            try:
                if self.path.exists():
                    shutil.copyfile(self.path, draft)
                con = duckdb.connect(str(draft))
                con.execute("SET TimeZone = 'UTC'")
                _DUCKDB_SESSIONS[key] = con
                try:
                    yield
                    # Everything into the file itself (no write-ahead log left beside it), on disk.
                    con.execute("CHECKPOINT")
                finally:
                    del _DUCKDB_SESSIONS[key]
                    con.close()
                with open(draft, "rb+") as f:
                    os.fsync(f.fileno())
                os.replace(draft, self.path)
            finally:
                draft.unlink(missing_ok=True)
                draft.with_name(draft.name + ".wal").unlink(missing_ok=True)

    @contextmanager
    def _writer(self) -> Iterator[Any]:
        """The connection of the session in progress (one is opened around this block if none is)."""
        with self.session():
            yield _DUCKDB_SESSIONS[str(self.path.resolve())]

    def _connect_for_queries(self) -> Any:
        """Read-only, and no file outside the warehouse: no COPY, read_csv, ATTACH or extension
        install, and the settings locked so a query cannot turn that back on (``detak sql``)."""
        import duckdb

        con = duckdb.connect(str(self.path), read_only=True, config={"enable_external_access": False})
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET lock_configuration = true")
        return con

    def _folder(self, stage: str) -> str:
        return f"{self.staging_dir.rstrip('/')}/{stage.replace(chr(34), '')}"

    def load_staging(self, frame: DataFrame, contract: TableContract, stage: str) -> None:
        folder = self._folder(stage)
        frame.write.mode("overwrite").parquet(folder)
        schema, _ = split_name(contract.name)
        with self._writer() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            con.execute(
                f"CREATE OR REPLACE TABLE {stage} AS SELECT * FROM read_parquet({_literal(folder + '/*.parquet')})"
            )

    def cleanup(self, stage: str) -> None:
        folder = self._folder(stage)
        if "://" not in folder:
            shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def existing_columns(self, cur: Any, schema: str, name: str) -> list[str]:
        rows = cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
        return [r[0] for r in rows]

    def _holds_data(self) -> bool:
        return "://" not in str(self.path) and self.path.exists()

    def _base_table_columns(self, cur: Any) -> dict[tuple[str, str], set[str]]:
        return _by_table(cur.execute(_BASE_TABLE_COLUMNS).fetchall())

    def _delete_matching(self, cur: Any, schema: str, name: str, column: str, values: list[str], guard: str) -> int:
        sql = f"DELETE FROM {_quote(schema)}.{_quote(name)} WHERE {_quote(column)} IN (SELECT unnest(?)){guard}"
        row = cur.execute(sql, [values]).fetchone()
        return int(row[0]) if row else 0

    def _compact(self, tables: list[str]) -> None:
        """CHECKPOINT: rewrites the file's blocks, so deleted rows do not linger in the write-ahead log."""
        with self._writer() as con:
            con.execute("CHECKPOINT")

    def query_with_columns(self, sql: str, as_reader: bool = False) -> tuple[list[str], list[tuple[Any, ...]]]:
        # Always the locked read-only connection: the file's owner is the only other user.
        if not self.path.exists():
            raise PublishError(f"no DuckDB warehouse at {self.path} yet: nothing has been published")
        con = self._connect_for_queries()
        try:
            cur = con.execute(sql)
            rows = [tuple(r) for r in cur.fetchall()]
            return [d[0] for d in cur.description or []], rows
        finally:
            con.close()


class PostgresWarehouse(Warehouse):
    kind = "postgres"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        conf = settings["warehouse"]["postgres"]
        self.host = str(conf["host"])
        self.port = int(conf["port"])
        self.database = str(conf["database"])
        self.user = str(conf["user"])
        self.password = os.environ.get(str(conf["password_env"]))
        self.driver = str(conf["jdbc_driver"])
        self.batch_size = int(conf["jdbc_batch_size"])

    @property
    def name(self) -> str:
        return f"postgres:{self.host}:{self.port}/{self.database}"

    def column_type(self, col: Column) -> str:
        return _POSTGRES_TYPES.get(_kind(col), "jsonb")

    def cast(self, col: Column, source: str) -> str:
        if _kind(col) is T.TimestampType:
            return f"(timestamptz 'epoch' + {source} * interval '1 microsecond')"
        return f"CAST({source} AS {self.column_type(col)})"

    def load_staging(self, frame: DataFrame, contract: TableContract, stage: str) -> None:
        schema, _ = split_name(contract.name)
        with self.transaction() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        options = {
            "url": f"jdbc:postgresql://{self.host}:{self.port}/{self.database}",
            "dbtable": stage,
            "user": self.user,
            "driver": self.driver,
            "batchsize": str(self.batch_size),
        }
        if self.password:
            options["password"] = self.password
        frame.write.format("jdbc").options(**options).mode("overwrite").save()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.database, user=self.user, password=self.password
        )

    def _connect_reader(self) -> Any:
        """A connection as the read-only role, in read-only transactions too; one clear line without the role."""
        import psycopg

        conf = self.settings["warehouse"]["postgres"]
        user = str(conf["reader_user"])
        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=self.database,
                user=user,
                password=os.environ.get(str(conf["reader_password_env"])),
                options="-c default_transaction_read_only=on",
            )
        except psycopg.OperationalError as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()
            raise UserError(
                f"cannot connect to {self.name} as the read-only role {user!r} ({first}): create it with the SQL in "
                "docs/bi.md, or set warehouse.postgres.reader_user"
            ) from e

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        con = self._connect()
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute("SET LOCAL TIME ZONE 'UTC'")
                yield cur
        finally:
            con.close()

    def existing_columns(self, cur: Any, schema: str, name: str) -> list[str]:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (schema, name),
        )
        return [r[0] for r in cur.fetchall()]

    def query_with_columns(self, sql: str, as_reader: bool = False) -> tuple[list[str], list[tuple[Any, ...]]]:
        con = self._connect_reader() if as_reader else self._connect()
        try:
            with con.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
                cur.execute(sql)  # type: ignore[arg-type]
                if not cur.description:
                    return [], []
                return [d.name for d in cur.description], [tuple(r) for r in cur.fetchall()]
        finally:
            con.close()

    def _base_table_columns(self, cur: Any) -> dict[tuple[str, str], set[str]]:
        cur.execute(_BASE_TABLE_COLUMNS + " AND c.table_schema NOT IN ('pg_catalog', 'information_schema')")
        return _by_table(cur.fetchall())

    def _delete_matching(self, cur: Any, schema: str, name: str, column: str, values: list[str], guard: str) -> int:
        cur.execute(f"DELETE FROM {_quote(schema)}.{_quote(name)} WHERE {_quote(column)} = ANY(%s){guard}", (values,))
        return int(cur.rowcount)

    def _compact(self, tables: list[str]) -> None:
        """``VACUUM FULL``: a plain VACUUM only marks the deleted rows' space reusable. The server's
        write-ahead log and backups are the database administrator's to expire."""
        con = self._connect()
        try:
            con.autocommit = True  # VACUUM cannot run inside a transaction
            with con.cursor() as cur:
                for qualified in tables:
                    schema, name = qualified.split(".", 1)
                    cur.execute(f"VACUUM FULL {_quote(schema)}.{_quote(name)}")
        finally:
            con.close()


TARGETS: dict[str, type[Warehouse]] = {"duckdb": DuckDBWarehouse, "postgres": PostgresWarehouse}


def warehouse(settings: Settings, target: str | None = None) -> Warehouse:
    """The warehouse ``target`` (default ``warehouse.target``)."""
    kind = target or settings["warehouse"]["target"]
    if kind not in TARGETS:
        raise UnknownTargetError(f"unknown warehouse target {kind!r}; known: {', '.join(sorted(TARGETS))}")
    return TARGETS[kind](settings)


def unique_stage_suffix() -> str:
    return uuid.uuid4().hex[:8]
