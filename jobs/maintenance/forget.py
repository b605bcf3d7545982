"""Forget requests (right to erasure): remove a person from every layer, from Delta history and from landing.

A request names shop account ids (raw ``user_id``). The person is then, in this order:

1. **Pseudonyms**: the keyed pseudonym (HMAC-SHA256, the key of silver) of each account id.
2. **Devices**: every device seen logged in to the account, from ``silver.identity_map`` and from
   the raw bronze rows (which also hold non-consenting logins, which silver keeps no account for).
3. **Raw values** from the bronze rows of the account or of its devices: device ids, e-mails and
   phones typed or sent with orders, order ids, cart ids, and the landing files they came from.

Then every Delta table whose contract exists and whose folder exists is erased from, chosen by
its columns, so tables added later are covered without code changes here:

- **bronze** (raw ids): rows whose ``user_id``, ``anonymous_id``, ``email``, ``customer_email``,
  ``customer_phone``, ``order_id`` or ``cart_id`` is one of the person's raw values; in a table with
  a ``raw_line`` (``bronze.quarantine``), lines that contain one of them as a JSON string.
  Rows of other devices that typed the person's e-mail (credential stuffing) go too: they hold it.
- **every other layer** (pseudonymous ids): rows whose ``user_id``, ``anonymous_id``, ``order_id``,
  ``session_id`` or ``cart_id`` is one of the person's; verdicts on the person's devices
  (``actor_type = 'anonymous_id'``). Verdicts on IP addresses stay: they judge an address that
  others share, and hold only its pseudonym. Aggregates without ids (daily counts) keep the
  person's contribution: they are not personal data.
- ``maintenance.*`` is left alone: ``maintenance.forget_requests`` keeps the account's pseudonym on
  purpose, as the record that the request was carried out and so that :func:`reapply_forget_requests`
  can erase the person again from data that arrives later.

Rows are deleted by a MERGE whose source is a small frame of (kind, id) rows, not by a DELETE with
the ids in its predicate: Delta writes an operation's predicate into the commit log, which VACUUM
never removes. Every table that lost rows is then VACUUMed with a retention of 0 hours, so the
Parquet files that still held the person's rows are deleted from storage. Trade-off: time travel
to versions before the request is lost for those tables, and a writer committing to one of them at
that moment could lose files it had written but not committed yet, so run it in the maintenance
window, not next to ingestion. What remains: the commit files written before the request keep the
min/max column statistics of the files they added (string prefixes of 32 characters), which can be
one of the person's values, until Delta's log cleanup removes commit files older than
``delta.logRetentionDuration`` (30 days by default) at a checkpoint.

Landing: the JSON-lines files the person's bronze rows came from (``_source_file``, only ever
inside ``paths.landing``) are rewritten without the person's lines (same rules as bronze, plus any
line mentioning one of the raw values), atomically, with the original modification time so the
ingestion's file source does not take a rewritten file for a new one; a file left empty is
deleted. Files of the person not yet ingested are not found (they have no bronze rows yet):
:func:`reapply_forget_requests` erases them after ingestion.

Warehouse: rows with the person's pseudonymous ids are deleted from every table of the DuckDB file
(``paths.warehouse``) that has such a column, and from the PostgreSQL warehouse when it is the
publishing target (``warehouse.target: postgres``); other warehouses plug in through
``maintenance.forget.warehouse_hooks``.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import importlib
import json
import logging
import os
import re
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial, reduce
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from delta.tables import DeltaTable
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.contracts import event_sources, table
from jobs.common.lock import hold
from jobs.common.tables import add_missing_columns, conform, ensure_table, table_path
from jobs.maintenance.lake import (
    column_names,
    existing_tables,
    is_delta_table,
    last_operation_metrics,
    purge_deletion_vectors,
    retention_check_lifted,
    version,
)
from jobs.publish.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from jobs.silver.privacy import check_key, hmac_sha256, pseudonym_key
from jobs.silver.reconcile import recompute

log = logging.getLogger(__name__)

REQUESTS = "maintenance.forget_requests"

#: Raw personal values held by bronze columns, by column name.
RAW_COLUMNS = ("user_id", "anonymous_id", "email", "customer_email", "customer_phone", "order_id", "cart_id")
#: Columns by which tables outside bronze are erased: they hold pseudonyms or non-personal order/cart/session ids.
ID_COLUMNS = ("user_id", "anonymous_id", "order_id", "session_id", "cart_id")

#: A warehouse hook: (settings, ids by column) -> rows deleted per table.
WarehouseHook = Callable[[Settings, Mapping[str, list[str]]], Mapping[str, int]]


def pseudonym(raw: str, key: bytes) -> str:
    """The keyed pseudonym of one id, equal to silver's ``hmac_sha256`` column expression."""
    return hmac.new(key, raw.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Person:
    """Everything that identifies the people of one request, raw (bronze, landing) and pseudonymous."""

    users: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    carts: set[str] = field(default_factory=set)
    raw: dict[str, set[str]] = field(default_factory=dict)

    def raw_ids(self) -> dict[str, set[str]]:
        """Raw values by bronze column; e-mails count whatever column they were found in."""
        emails = self.raw.get("email", set()) | self.raw.get("customer_email", set())
        return {
            "user_id": self.raw.get("user_id", set()),
            "anonymous_id": self.raw.get("anonymous_id", set()),
            "email": emails,
            "customer_email": emails,
            "customer_phone": self.raw.get("customer_phone", set()),
            "order_id": self.orders,
            "cart_id": self.carts,
        }

    def pseudonymous_ids(self) -> dict[str, set[str]]:
        """Ids by column for every layer after bronze."""
        return {
            "user_id": self.users,
            "anonymous_id": self.devices,
            "order_id": self.orders,
            "session_id": self.sessions,
            "cart_id": self.carts,
        }

    def tokens(self) -> set[str]:
        """Every raw value, for text that is not split into columns (quarantined and landing lines)."""
        return set().union(*self.raw_ids().values())


def match_any(columns: Iterable[str], ids: Mapping[str, Iterable[str]]) -> Column | None:
    """Rows where any of ``columns`` holds one of its ids; None when no column has ids to match.

    A device is matched only on rows of no account (:func:`device_guard`): on a shared device, the
    rows another account was logged in for are that account's, not the person's.
    """
    present = set(columns)
    parts = []
    for c, values in ids.items():
        if c in present and values:
            guard = device_guard(c, present)
            parts.append(F.col(c).isin(sorted(values)) & guard if guard is not None else F.col(c).isin(sorted(values)))
    return reduce(lambda a, b: a | b, parts) if parts else None


def device_guard(column: str, present: Iterable[str]) -> Column | None:
    """The extra condition for matching by ``column``: rows with no account, for a device id."""
    return F.col("user_id").isNull() if column == "anonymous_id" and "user_id" in set(present) else None


def mentions_any(col: Column, tokens: Iterable[str]) -> Column | None:
    """Text that contains one of ``tokens`` as a JSON string (quoted, so "u12" does not hit "u123")."""
    parts = [col.contains(json.dumps(t)) for t in sorted(tokens)]
    return reduce(lambda a, b: a | b, parts) if parts else None


def line_mentions(line: str, ids: Mapping[str, set[str]], tokens: set[str]) -> bool:
    """Whether one landing line belongs to the person: by its fields, or by a raw value it contains."""
    try:
        doc = json.loads(line)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        account = doc.get("user_id")
        if account is not None and str(account) not in ids.get("user_id", set()):
            return False  # another account's line, on a device it shares with the person
        if any(str(doc.get(c)) in v for c, v in ids.items() if doc.get(c) is not None):
            return True
    return any(json.dumps(t) in line for t in tokens)


def _either(*conds: Column | None) -> Column | None:
    parts = [c for c in conds if c is not None]
    return reduce(lambda a, b: a | b, parts) if parts else None


def _collect_set(df: Any, col: str) -> set[str]:
    # Bounded: the distinct values of one request's people, never event-level data.
    return {r[0] for r in df.select(col).where(F.col(col).isNotNull()).distinct().collect()}  # bounded


def resolve(spark: SparkSession, settings: Settings, users: set[str], raw_users: set[str], key: bytes) -> Person:
    """Find every id of the people whose account pseudonyms are ``users`` (raw ids too, when known)."""
    person = Person(users=set(users), raw={"user_id": set(raw_users)})
    tables = existing_tables(spark, settings)
    bronze = [(c, p) for c, p in tables if c.layer == "bronze" and {"user_id", "anonymous_id"} <= column_names(c)]
    by_name = {c.name: p for c, p in tables}
    user_list = sorted(users)

    if "silver.identity_map" in by_name:
        imap = spark.read.format("delta").load(by_name["silver.identity_map"])
        person.devices |= _collect_set(imap.where(F.col("user_id").isin(user_list)), "anonymous_id")
    for _, path in bronze:
        df = spark.read.format("delta").load(path)
        logged_in = df.where(hmac_sha256(F.col("user_id"), key).isin(user_list))
        person.devices |= _collect_set(logged_in.select(hmac_sha256(F.col("anonymous_id"), key).alias("d")), "d")

    device_list = sorted(person.devices)
    for contract, path in bronze:
        df = spark.read.format("delta").load(path)
        # The device's rows of no account; another account's rows on a shared device are not theirs.
        theirs = df.where(
            hmac_sha256(F.col("user_id"), key).isin(user_list)
            | (hmac_sha256(F.col("anonymous_id"), key).isin(device_list) & F.col("user_id").isNull())
        )
        wanted = [c for c in RAW_COLUMNS if c in column_names(contract)]
        row = theirs.agg(*[F.collect_set(c).alias(c) for c in wanted]).first()  # one row of bounded sets
        for c in wanted:
            person.raw.setdefault(c, set()).update(row[c] if row is not None else [])
    # A device shared with another account holds that account's id too: keep only the requested ones.
    person.raw["user_id"] = {u for u in person.raw.get("user_id", set()) if pseudonym(u, key) in users}
    person.orders |= person.raw.get("order_id", set())
    person.carts |= person.raw.get("cart_id", set())

    if "silver.orders" in by_name:
        orders = (
            spark.read.format("delta")
            .load(by_name["silver.orders"])
            .where(
                F.col("user_id").isin(user_list) | (F.col("anonymous_id").isin(device_list) & F.col("user_id").isNull())
            )
        )
        person.orders |= _collect_set(orders, "order_id")
        person.carts |= _collect_set(orders, "cart_id")
    if "silver.sessions" in by_name:
        sessions = spark.read.format("delta").load(by_name["silver.sessions"])
        theirs = sessions.where(
            F.col("anonymous_id").isin(device_list) & (F.col("user_id").isNull() | F.col("user_id").isin(user_list))
        )
        person.sessions |= _collect_set(theirs, "session_id")
    return person


def _condition(contract: Any, person: Person) -> Column | None:
    cols = column_names(contract)
    if contract.layer == "bronze":
        raw_line = mentions_any(F.col("raw_line"), person.tokens()) if "raw_line" in cols else None
        return _either(match_any(cols, person.raw_ids()), raw_line)
    verdicts = None
    if {"actor_type", "actor"} <= cols and person.devices:
        verdicts = (F.col("actor_type") == "anonymous_id") & F.col("actor").isin(sorted(person.devices))
    return _either(match_any(cols, person.pseudonymous_ids()), verdicts)


TEXT = "__text__"
ACTOR = "__device_verdict__"


def _id_rows(contract: Any, person: Person) -> list[tuple[str, str]]:
    """(kind, value) rows to erase ``contract``'s table by: a column name, TEXT or ACTOR, and one id."""
    cols = column_names(contract)
    ids = person.raw_ids() if contract.layer == "bronze" else person.pseudonymous_ids()
    rows = [(c, v) for c, values in ids.items() if c in cols for v in sorted(values)]
    if contract.layer == "bronze" and "raw_line" in cols:
        rows += [(TEXT, t) for t in sorted(person.tokens())]
    if contract.layer != "bronze" and {"actor_type", "actor"} <= cols:
        rows += [(ACTOR, d) for d in sorted(person.devices)]
    return rows


def delete_ids(spark: SparkSession, path: str, contract: Any, person: Person) -> int:
    """Delete the person's rows with MERGEs whose source holds the ids; the number of rows deleted.

    A DELETE would write its predicate, ids and all, into the table's commit log, where it stays
    after VACUUM; a MERGE's logged condition names only columns and kinds. One MERGE per kind of id,
    each an equality join on one column (a broadcast hash join), so the cost grows with the table
    and the ids added together, not multiplied as a join on an OR of kinds would. Only the
    quarantine's raw lines are matched by containment.
    """
    rows = _id_rows(contract, person)
    if not rows:
        return 0
    cols = column_names(contract)
    table = DeltaTable.forPath(spark, path)
    deleted = 0
    for kind in sorted({k for k, _ in rows}):
        if kind == TEXT:
            cond = "contains(t.raw_line, concat('\"', s.value, '\"'))"
        elif kind == ACTOR:
            cond = "t.actor_type = 'anonymous_id' AND t.actor = s.value"
        else:
            cond = f"t.`{kind}` = s.value" + (" AND t.user_id IS NULL" if device_guard(kind, cols) is not None else "")
        source = spark.createDataFrame([(v,) for k, v in rows if k == kind], "value string")
        before = version(table)
        # Several ids may match one row (its e-mail twice): allowed for an unconditional delete.
        table.alias("t").merge(F.broadcast(source).alias("s"), cond).whenMatchedDelete().execute()
        if version(table) != before:
            deleted += int(last_operation_metrics(table).get("numTargetRowsDeleted", 0))
    return deleted


def landing_file(uri: str, landing: Path, sources: Iterable[str]) -> Path | None:
    """The local landing file a bronze row came from, only ever inside the ``landing`` folder.

    A home moved or copied after ingestion keeps the old paths in ``_source_file``: they are
    re-rooted at their ``<source>/`` folder. Anything else (object storage, files outside landing)
    is None and left alone.
    """
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(unquote(parsed.path))
    root = landing.resolve()
    if path.is_relative_to(root):
        return path
    parts = path.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in set(sources):
            return root.joinpath(*parts[i:])
    return None


def rewrite_landing(files: Iterable[str], person: Person, landing: Path, sources: Iterable[str]) -> dict[str, Any]:
    """Rewrite landing files without the person's lines; delete files left empty.

    A file that cannot be read (truncated, corrupt) is listed under ``unreadable`` and left as it is.

    Each file is written beside itself under a hidden name (which the ingestion's file source never
    lists), given the original modification time, then renamed over the original in one step.
    """
    ids, tokens = person.raw_ids(), person.tokens()
    out: dict[str, Any] = {"files_rewritten": 0, "files_deleted": 0, "lines_removed": 0, "files_skipped": 0}
    unreadable: list[str] = []
    for uri in sorted(set(files)):
        path = landing_file(uri, landing, sources)
        if path is None or not path.exists():
            # Object storage or a file already removed by retention: nothing to rewrite here.
            out["files_skipped"] += 1
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8", newline="") as fh:
                lines = fh.read().splitlines(keepends=True)
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
            # A truncated or corrupt delivery: the others are still rewritten; this one is reported.
            log.warning("forget: landing file %s is unreadable (%s): not rewritten", path, e)
            unreadable.append(str(path))
            continue
        kept = [ln for ln in lines if not line_mentions(ln.rstrip("\r\n"), ids, tokens)]
        removed = len(lines) - len(kept)
        if removed == 0:
            continue
        out["lines_removed"] += removed
        if not kept:
            path.unlink()
            out["files_deleted"] += 1
            continue
        stat = path.stat()
        tmp = path.with_name(f".{path.name}.forget.tmp")
        with opener(tmp, "wt", encoding="utf-8", newline="") as fh:
            fh.writelines(kept)
        os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(tmp, path)
        out["files_rewritten"] += 1
    if unreadable:
        out["unreadable"] = unreadable
    return out


#: What a redacted value becomes in Great Expectations' samples.
ERASED = "(erased)"
#: The gate's results table, whose samples of unexpected values may hold ids.
RESULTS = "quality.validation_results"
_TOKEN_EDGE = r"[A-Za-z0-9_@.+-]"


def _token_regex(values: Iterable[str]) -> str | None:
    """A regex (Python and Java alike) for any of ``values`` as a whole token, longest first."""
    quoted = ["\\Q" + v + "\\E" for v in sorted({v for v in values if v and "\\E" not in v}, key=len, reverse=True)]
    return f"(?<!{_TOKEN_EDGE})(?:{'|'.join(quoted)})(?!{_TOKEN_EDGE})" if quoted else None


def redact_validation_results(spark: SparkSession, settings: Settings, values: Iterable[str]) -> int:
    """Replace ``values`` in ``quality.validation_results``'s samples by ERASED; rows changed.

    The new texts are computed in Spark and written by a MERGE on the table's key, so no value
    lands in the commit log (an UPDATE would log its predicate).
    """
    pattern = _token_regex(values)
    path = table_path(RESULTS, settings)
    if pattern is None or not is_delta_table(spark, path):
        return 0
    df = spark.read.format("delta").load(path)
    redacted = F.regexp_replace("observed_value", F.lit(pattern), F.lit(ERASED))
    key = table(RESULTS).key
    changed = df.where(F.col("observed_value").isNotNull() & (redacted != F.col("observed_value")))
    source = changed.select(*[F.col(f"`{k}`") for k in key], redacted.alias("observed_value")).localCheckpoint()
    n = source.count()
    if n:
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
        DeltaTable.forPath(spark, path).alias("t").merge(source.alias("s"), cond).whenMatchedUpdate(
            set={"observed_value": "s.observed_value"}
        ).execute()
        purge_deletion_vectors(spark, path)
    return n


def redact_quality_files(settings: Settings, values: Iterable[str]) -> int:
    """Replace ``values`` by ERASED in Great Expectations' stored results and Data Docs pages; files changed.

    Each file is rewritten under a temporary name and renamed into place.
    """
    wanted = {v for v in values if v}
    if not wanted:
        return 0
    regex = re.compile(_python_regex(wanted))
    changed = 0
    seen: set[Path] = set()
    for key in ("gx_dir", "data_docs_dir"):
        root = Path(str(settings["quality"][key]))
        if not root.is_dir():
            continue
        for f in sorted(root.rglob("*")):
            if f in seen or f.suffix not in (".json", ".html") or not f.is_file():
                continue
            seen.add(f)
            text = f.read_text(encoding="utf-8", errors="surrogateescape")
            new, hits = regex.subn(ERASED, text)
            if hits:
                tmp = f.with_name(f".{f.name}.forget")
                tmp.write_text(new, encoding="utf-8", errors="surrogateescape")
                os.replace(tmp, f)
                changed += 1
    return changed


def _python_regex(values: Iterable[str]) -> str:
    alternatives = "|".join(re.escape(v) for v in sorted({v for v in values if v}, key=len, reverse=True))
    return f"(?<!{_TOKEN_EDGE})(?:{alternatives})(?!{_TOKEN_EDGE})"


#: Tables whose erased rows change the counts ``silver.reconciliation`` recorded, by event date.
RECOUNTED = ("bronze.clickstream_events", "bronze.search_events", "silver.events")
_RECOUNT_COLUMNS = ("bronze_rows", "duplicates", "too_late", "silver_rows", "bot_events", "no_consent_events")


def recount_reconciliation(spark: SparkSession, settings: Settings, dates: Iterable[date]) -> int:
    """Record ``silver.reconciliation`` again for ``dates`` from what is left; dates rewritten.

    The erased rows leave bronze and silver alike, so the dates still balance, but the counts silver
    recorded before would no longer match ``detak reconcile``'s. Only the dates the request
    touched are recounted, so a real mismatch elsewhere stays visible.
    """
    path = table_path("silver.reconciliation", settings)
    days = sorted(set(dates))
    if not days or not is_delta_table(spark, path):
        return 0
    counts = recompute(spark, settings).where(F.col("event_date").isin(days))
    flags = (
        spark.read.format("delta")
        .load(table_path("silver.events", settings))
        .where(F.col("event_date").isin(days))
        .groupBy("event_date", "source")
        .agg(
            F.count(F.when(F.col("is_bot"), 1)).alias("bot_events"),
            F.count(F.when(~F.col("consent_analytics"), 1)).alias("no_consent_events"),
        )
    )
    source = (
        counts.join(flags, ["event_date", "source"], "left")
        .fillna(0, ["bot_events", "no_consent_events"])
        .select("event_date", "source", *[F.col(c).cast("long").alias(c) for c in _RECOUNT_COLUMNS])
        .localCheckpoint()
    )
    n = source.count()
    if n:
        DeltaTable.forPath(spark, path).alias("t").merge(
            source.alias("s"), "t.event_date = s.event_date AND t.source = s.source"
        ).whenMatchedUpdate(set={c: f"s.{c}" for c in _RECOUNT_COLUMNS}).execute()
    return n


def clear_staging(settings: Settings) -> int:
    """Remove what dead publishes left in ``warehouse.staging_dir``; files removed.

    Runs under the warehouse's lease, so no publish is using the folder; a publish stages afresh.
    """
    root = str(settings["warehouse"]["staging_dir"])
    if "://" in root or not Path(root).is_dir():
        return 0
    removed = 0
    for entry in sorted(Path(root).iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            removed += sum(1 for f in entry.rglob("*") if f.is_file())
            shutil.rmtree(entry)
        else:
            entry.unlink()
            removed += 1
    return removed


def warehouse_hooks(settings: Settings) -> list[WarehouseHook]:
    """The configured extra warehouses' forget functions (``module:function``), e.g. PostgreSQL's."""
    hooks = []
    for spec in settings.get("maintenance.forget.warehouse_hooks") or []:
        module, _, name = str(spec).partition(":")
        hooks.append(getattr(importlib.import_module(module), name))
    return hooks


def read_requests(path: Path) -> list[str]:
    """Account ids of a request file: one per line; blank lines and ``#`` comments are skipped."""
    ids = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            ids.append(text)
    return ids


def erase(
    spark: SparkSession,
    settings: Settings,
    users: set[str],
    raw_users: set[str] | None = None,
    key: bytes | None = None,
    vacuum_all: bool = False,
) -> dict[str, Any]:
    """Erase the people with account pseudonyms ``users`` from lake, landing and warehouses (not logged).

    A failing step (an unreadable landing file, a warehouse that is down) does not skip the others:
    it is listed under ``failed_steps`` and the caller decides.

    Holds the lease of every lake table and of the warehouse meanwhile (:mod:`jobs.common.lock`):
    the zero-retention VACUUM that removes the deleted rows' files for good must not run while a
    job writes files it has not committed yet.
    """
    names = [contract.name for contract, _ in existing_tables(spark, settings)]
    with hold(settings, [*names, "warehouse"], "forget"):
        return _erase(spark, settings, users, raw_users, key, vacuum_all)


def _vacuum_now(spark: SparkSession, path: str) -> None:
    DeltaTable.forPath(spark, path).vacuum(0.0)


def _erase(
    spark: SparkSession,
    settings: Settings,
    users: set[str],
    raw_users: set[str] | None,
    key: bytes | None,
    vacuum_all: bool = False,
) -> dict[str, Any]:
    """Every step runs even when an earlier one failed; failures are listed under ``failed_steps``.

    ``vacuum_all`` vacuums every table with an id column, not only those that lost rows now: a
    request that died after its deletes and before their VACUUM left the rows in old files.
    """
    key = key if key is not None else pseudonym_key(settings)
    person = resolve(spark, settings, users, raw_users or set(), key)
    failed: dict[str, str] = {}
    steps: dict[str, str] = {}

    def step(name: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            out = fn()
        except Exception as exc:
            log.exception("forget: step %s failed", name)
            failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            steps[name] = f"failed: {failed[name]}"
            return default
        steps[name] = "done"
        return out

    rows: dict[str, int] = {}
    files: set[str] = set()
    touched: set[date] = set()
    candidates: list[str] = []
    for contract, path in existing_tables(spark, settings):
        if contract.layer == "maintenance":
            continue
        cond = _condition(contract, person)
        if cond is None:
            continue
        candidates.append(contract.name)

        def delete(contract: Any = contract, path: str = path, cond: Column = cond) -> int:
            nonlocal files
            if "_source_file" in column_names(contract):
                files |= _collect_set(spark.read.format("delta").load(path).where(cond), "_source_file")
            if contract.name in RECOUNTED:
                theirs = spark.read.format("delta").load(path).where(cond).select("event_date").distinct()
                touched.update(r[0] for r in theirs.collect())  # bounded: one row per date
            n = delete_ids(spark, path, contract, person)
            if n:
                purge_deletion_vectors(spark, path)
            return n

        n = step(f"delete:{contract.name}", delete, 0)
        if n:
            rows[contract.name] = n
    recounted = step("reconciliation", partial(recount_reconciliation, spark, settings, touched), 0)
    landing_root = str(settings["paths"]["landing"])
    if "://" in landing_root:
        log.warning("landing on object storage (%s) is not rewritten: erase its files there", landing_root)
        landing = {"files_rewritten": 0, "files_deleted": 0, "lines_removed": 0, "files_skipped": len(files)}
    else:
        empty = {"files_rewritten": 0, "files_deleted": 0, "lines_removed": 0}
        landing = step("landing", lambda: rewrite_landing(files, person, Path(landing_root), event_sources()), empty)
        if landing.get("unreadable"):
            bad = landing["unreadable"]
            failed["landing"] = (
                f"{len(bad)} unreadable landing file(s), the person's lines may remain: {', '.join(bad)}"[:300]
            )
            steps["landing"] = f"failed: {failed['landing']}"
    # Great Expectations keeps samples of unexpected values: in the results table, its stores and
    # its Data Docs pages. They are redacted, not deleted: the record of what was checked stays.
    values = person.tokens() | set().union(*person.pseudonymous_ids().values())
    quality = {
        "validation_results_redacted": step(
            "quality:validation_results", partial(redact_validation_results, spark, settings, values), 0
        ),
        "files_redacted": step("quality:files", partial(redact_quality_files, settings, values), 0),
        "staging_files_removed": step("warehouse:staging", partial(clear_staging, settings), 0),
    }
    if quality["validation_results_redacted"]:
        candidates.append(RESULTS)
    # Deleted rows stay in files that older versions reference until VACUUM removes those files.
    vacuumed = sorted(set(candidates) if vacuum_all else set(rows) | ({RESULTS} & set(candidates)))
    with retention_check_lifted(spark):
        for name in vacuumed:
            step(f"vacuum:{name}", partial(_vacuum_now, spark, table_path(name, settings)))
    ids = {k: sorted(v) for k, v in person.pseudonymous_ids().items()}
    warehouse: dict[str, int] = {}
    # The DuckDB file whenever it exists (it may predate a move to PostgreSQL); PostgreSQL when it is the target.
    targets: list[Warehouse] = [DuckDBWarehouse(settings)]
    if settings["warehouse"]["target"] == "postgres":
        targets.append(PostgresWarehouse(settings))
    for wh in targets:
        found = step(f"warehouse:{wh.kind}", partial(wh.forget, ids, ID_COLUMNS), {})
        warehouse.update({f"{wh.kind}:{t}": n for t, n in found.items()})
    for hook in warehouse_hooks(settings):
        done = step(f"warehouse:{hook.__module__}", partial(hook, settings, ids), {})
        warehouse.update({f"{hook.__module__}:{t}": int(n) for t, n in done.items()})
    result = {
        "users": len(person.users),
        "devices": len(person.devices),
        "orders": len(person.orders),
        "sessions": len(person.sessions),
        "rows_deleted": rows,
        "tables_vacuumed": vacuumed,
        "landing": landing,
        "warehouse_rows_deleted": warehouse,
        "quality": quality,
        "reconciliation_dates_recounted": recounted,
        "failed_steps": failed,
        "steps": dict(sorted(steps.items())),
    }
    log.info("forget: %s", result)
    return result


class ForgetIncomplete(RuntimeError):
    """Some steps of a forget request failed; the request stays open until a run completes it."""


_REQUEST_SCHEMA = (
    "request_id string, user_pseudonym string, requested_at timestamp, completed_at timestamp, "
    "users_in_request int, devices int, tables_touched array<string>, rows_deleted map<string,long>, "
    "landing_files_changed long, landing_lines_removed long, warehouse_rows_deleted map<string,long>, "
    "steps map<string,string>"
)


def _requests_table(spark: SparkSession, settings: Settings) -> DeltaTable:
    """The request log, with ``completed_at`` nullable and a ``steps`` column (a log made before
    either is brought up to date)."""
    ensure_table(spark, REQUESTS, settings)
    path = table_path(REQUESTS, settings)
    schema = spark.read.format("delta").load(path).schema
    if not schema["completed_at"].nullable:
        spark.sql(f"ALTER TABLE delta.`{path}` ALTER COLUMN completed_at DROP NOT NULL")
    add_missing_columns(spark, REQUESTS, settings)
    return DeltaTable.forPath(spark, path)


def _record(spark: SparkSession, settings: Settings, rows: list[tuple[Any, ...]]) -> None:
    """Insert or update the request log's rows (by request id and account pseudonym)."""
    source = conform(spark.createDataFrame(rows, _REQUEST_SCHEMA), REQUESTS)
    keys = "t.request_id = s.request_id AND t.user_pseudonym = s.user_pseudonym"
    _requests_table(spark, settings).alias("t").merge(
        source.alias("s"), keys
    ).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()


def _open_requests(spark: SparkSession, settings: Settings) -> dict[str, set[str]]:
    """Request ids not completed yet, with their account pseudonyms (bounded: the request log)."""
    rows = (
        _requests_table(spark, settings)
        .toDF()
        .where(F.col("completed_at").isNull())
        .select("request_id", "user_pseudonym")
        .collect()  # bounded: the open requests of the request log
    )
    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(r["request_id"], set()).add(r["user_pseudonym"])
    return found


def _close(
    spark: SparkSession, settings: Settings, request_ids: Iterable[str], steps: Mapping[str, str] | None = None
) -> None:
    """Mark these open requests completed now: a later run erased their people with no failed step
    (``steps``: that run's, which replace those of the run that failed)."""
    ids = sorted(request_ids)
    if ids:
        now = F.lit(datetime.now(UTC).replace(tzinfo=None))
        done: dict[str, str | Column] = {"completed_at": now}
        if steps:
            done["steps"] = F.create_map(*[F.lit(x) for kv in sorted(steps.items()) for x in kv])
        _requests_table(spark, settings).update(F.col("request_id").isin(ids) & F.col("completed_at").isNull(), done)


def forget_users(
    spark: SparkSession,
    settings: Settings,
    user_ids: list[str] | None = None,
    request_file: Path | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Remove the people with these raw account ids from every layer, Delta history, landing and warehouses.

    ``user_ids`` and the ids of ``request_file`` (one per line) are processed together in one pass.
    The request is logged in ``maintenance.forget_requests`` before anything is erased (one row per
    account, by pseudonym, never the raw id), so the weekly re-apply knows of it whatever happens
    next; ``completed_at`` and the totals are filled in once every step succeeded. When a step
    fails, the others still run, the row stays open and :class:`ForgetIncomplete` is raised: the
    next forget of the same people, or the weekly re-apply, completes it. Returns the totals.
    """
    raw = list(user_ids or []) + (read_requests(request_file) if request_file is not None else [])
    raw_users = {u.strip() for u in raw if u and u.strip()}
    if not raw_users:
        raise ValueError("forget_users needs at least one user id (user_ids or request_file)")
    requested = datetime.now(UTC).replace(tzinfo=None)
    request_id = request_id or f"forget-{requested:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    key = pseudonym_key(settings)
    check_key(settings, key)  # another key would find no one, and log a pseudonym that matches nothing
    users = {pseudonym(u, key) for u in raw_users}
    earlier = {r: u for r, u in _open_requests(spark, settings).items() if r != request_id and u <= users}
    _record(
        spark, settings, [(request_id, u, requested, None, len(users), 0, [], {}, 0, 0, {}, {}) for u in sorted(users)]
    )
    result = erase(spark, settings, users, raw_users, key, vacuum_all=bool(earlier))
    failed = result["failed_steps"]
    completed = None if failed else datetime.now(UTC).replace(tzinfo=None)
    landing = result["landing"]
    rows = [
        (
            request_id,
            user,
            requested,
            completed,
            len(users),
            result["devices"],
            sorted(result["rows_deleted"]),
            result["rows_deleted"],
            landing["files_rewritten"] + landing["files_deleted"],
            landing["lines_removed"],
            result["warehouse_rows_deleted"],
            result["steps"],
        )
        for user in sorted(users)
    ]
    _record(spark, settings, rows)
    if failed:
        raise ForgetIncomplete(
            f"forget {request_id}: {len(failed)} step(s) failed ({', '.join(sorted(failed))}); the other steps "
            "ran and the request stays open: fix the cause and run the same forget again (or wait for the "
            "weekly maintenance)"
        )
    _close(spark, settings, earlier, result["steps"])
    return {"request_id": request_id, **result}


def reapply_forget_requests(spark: SparkSession, settings: Settings) -> dict[str, Any]:
    """Erase every person of ``maintenance.forget_requests`` again, from data that arrived since.

    Works from the pseudonyms alone: bronze rows are matched by the pseudonym of their raw ids.
    """
    path = table_path(REQUESTS, settings)
    if not is_delta_table(spark, path):
        return {"users": 0, "rows_deleted": {}}
    users = _collect_set(spark.read.format("delta").load(path), "user_pseudonym")  # bounded: one per request
    if not users:
        return {"users": 0, "rows_deleted": {}}
    pending = _open_requests(spark, settings)
    result = erase(spark, settings, users, vacuum_all=bool(pending))
    if not result["failed_steps"]:
        _close(spark, settings, pending, result["steps"])
    result["requests_completed"] = sorted(pending) if not result["failed_steps"] else []
    return result
