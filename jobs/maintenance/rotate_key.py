"""Pseudonym key rotation: re-pseudonymise every lake table under a new key (``detak rotate-key``).

Pseudonyms are HMAC-SHA256 of raw ids (:mod:`jobs.silver.privacy`) and cannot be turned back into
the ids, so a new key is reached through bronze, the one layer that keeps raw ids:

1. **Translation maps**, built once under the old key and kept under ``<lake>/_rotation`` (pairs of
   pseudonyms, never a raw id) until the rotation ends, so a rotation that dies half-way resumes
   with the same maps even though some tables are rotated already:

   - ``pseudonyms``: for every raw ``user_id``, ``anonymous_id`` and ``ip`` in bronze, its
     pseudonym under the old key and under the new one;
   - ``sessions``: ``session_id`` is the SHA-256 of the device pseudonym and the session's first
     event id (jobs/silver/sessions.py), so each session id of ``silver.events`` gets the id the
     new key gives.

2. **Every silver, gold and features table** with a pseudonymous column (``user_id``,
   ``anonymous_id``, or a column its contract marks ``pseudonym``) or a ``session_id`` is rewritten
   whole in one Delta transaction whose commit carries ``rotate-key <new fingerprint> <start time>``,
   then vacuumed with zero retention, so no Parquet file keeps an old pseudonym. A table with a
   commit carrying that marker is done: a resumed rotation only redoes its VACUUM. A pseudonym with
   no raw id left in bronze (a person last seen before bronze retention) cannot reach its new-key
   value; it becomes the HMAC under the new key of the old pseudonym: still keyed and consistent
   across tables, but it will not join with that person's future events.

3. The manifest records every rewritten gold and features date, so the quality gate and publish
   (run next by ``detak rotate-key``, else by the next daily run) re-check and re-publish them: the
   warehouse gets the new pseudonyms through the usual staged publish.

4. The lake's key fingerprint becomes the new key's and the maps are deleted.

While ``<lake>/_pseudonym_key_rotation.json`` exists, every job that checks the key refuses to start
(:func:`jobs.silver.privacy.check_key`): a silver run under either key would mix pseudonyms. Open
forget requests are re-applied under the old key first; the request log keeps the old pseudonyms,
which no new-key value can match, so requests made before a rotation are not re-applied to data that
arrives after it (docs/PRIVACY.md#key-rotation).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import ConfigError, Settings
from jobs.common.contracts import TableContract
from jobs.common.errors import UserError
from jobs.common.lock import hold
from jobs.common.tables import table_path
from jobs.maintenance.lake import column_names, existing_tables, retention_check_lifted
from jobs.silver.privacy import (
    ROTATION_FILE,
    check_key,
    hmac_sha256,
    key_fingerprint,
    pseudonym_key,
    record_fingerprint,
)

log = logging.getLogger(__name__)

#: Raw bronze columns whose pseudonyms silver stores (``ip`` as the actor of IP verdicts).
RAW_PSEUDONYMISED = ("user_id", "anonymous_id", "ip")
#: Columns holding pseudonyms in every layer after bronze, besides those a contract marks.
PSEUDONYM_COLUMNS = ("user_id", "anonymous_id")
SESSION = "session_id"
LAYERS = ("silver", "gold", "features")
JOB = "rotate_key"


def new_key(settings: Settings, environ: dict[str, str] | None = None) -> bytes:
    """The key to rotate to, from ``silver.privacy.new_key_env`` (one line when it is unset)."""
    env = os.environ if environ is None else environ
    name = str(settings["silver"]["privacy"]["new_key_env"])
    value = env.get(name)
    if not value:
        raise UserError(f"{name} is not set: export the new key there ({name}=<32+ random bytes>) to rotate to it")
    return value.encode("utf-8")


def marker(new: bytes, started_at: str) -> str:
    """What a rotated table's commit carries: the new key's fingerprint and when the rotation began."""
    return f"rotate-key {key_fingerprint(new)} {started_at}"


def pseudonymous_columns(contract: TableContract) -> list[str]:
    """The columns of ``contract`` that hold pseudonyms."""
    names = column_names(contract)
    marked = {c.name for c in contract.columns if c.pseudonym}
    return sorted((set(PSEUDONYM_COLUMNS) & names) | marked)


def rotated_tables(spark: SparkSession, settings: Settings) -> list[tuple[TableContract, str]]:
    """Existing silver, gold and features tables with a pseudonymous column or a session id."""
    return [
        (c, p)
        for c, p in existing_tables(spark, settings)
        if c.layer in LAYERS and (pseudonymous_columns(c) or SESSION in column_names(c))
    ]


def _paths(settings: Settings) -> tuple[Path, Path]:
    lake = str(settings["paths"]["lake"])
    if "://" in lake:
        raise UserError(f"rotate-key works on a lake on a file system, not {lake}: run it where the lake is mounted")
    return Path(lake) / ROTATION_FILE, Path(lake) / "_rotation"


def _rekey(col: Column, new: bytes) -> Column:
    return hmac_sha256(col, new)


def build_maps(spark: SparkSession, settings: Settings, old: bytes, new: bytes, folder: Path) -> dict[str, int]:
    """Write the pseudonym and session translation maps under ``folder`` (see the module docstring)."""
    raw: list[DataFrame] = []
    for contract, path in existing_tables(spark, settings):
        if contract.layer != "bronze":
            continue
        df = spark.read.format("delta").load(path)
        for c in RAW_PSEUDONYMISED:
            if c in df.columns:
                raw.append(df.select(F.col(c).cast("string").alias("raw")).where(F.col("raw").isNotNull()))
    if raw:
        values = raw[0]
        for more in raw[1:]:
            values = values.unionByName(more)
        pairs = values.distinct().select(
            hmac_sha256(F.col("raw"), old).alias("old"), hmac_sha256(F.col("raw"), new).alias("new")
        )
    else:
        pairs = spark.createDataFrame([], "old string, new string")
    pairs.write.mode("overwrite").parquet(str(folder / "pseudonyms"))
    pairs = spark.read.parquet(str(folder / "pseudonyms"))

    events_path = table_path("silver.events", settings)
    sessions = spark.createDataFrame([], "old string, new string")
    if DeltaTable.isDeltaTable(spark, events_path):
        events = spark.read.format("delta").load(events_path)
        first = events.where(
            F.col(SESSION) == F.sha2(F.concat_ws("|", F.col("anonymous_id"), F.col("event_id")), 256)
        ).select(F.col(SESSION).alias("old"), "anonymous_id", "event_id")
        device = first.join(pairs.withColumnRenamed("old", "anonymous_id"), "anonymous_id", "left")
        new_device = F.coalesce(F.col("new"), _rekey(F.col("anonymous_id"), new))
        sessions = device.select(
            "old", F.sha2(F.concat_ws("|", new_device, F.col("event_id")), 256).alias("new")
        ).dropDuplicates(["old"])
    sessions.write.mode("overwrite").parquet(str(folder / "sessions"))
    return {"pseudonyms": spark.read.parquet(str(folder / "pseudonyms")).count(),
            "sessions": spark.read.parquet(str(folder / "sessions")).count()}  # fmt: skip


def translate(df: DataFrame, column: str, mapping: DataFrame, new: bytes) -> DataFrame:
    """``df`` with ``column`` replaced by its new-key value: from ``mapping`` (``old``, ``new``), else
    the HMAC under ``new`` of the old value; null stays null. Row count and column order unchanged."""
    m = mapping.select(F.col("old").alias("_rot_old"), F.col("new").alias("_rot_new"))
    joined = df.join(m, df[column] == m["_rot_old"], "left")
    value = F.when(F.col(column).isNotNull(), F.coalesce(F.col("_rot_new"), _rekey(F.col(column), new)))
    return joined.select([value.alias(c) if c == column else F.col(c) for c in df.columns])


def _rotation_commit(spark: SparkSession, path: str, tag: str) -> dict[str, str] | None:
    """``operationMetrics`` of the table's commit tagged ``tag`` (None when there is none): the
    rotation rewrote it already (the VACUUM after it commits too, so it need not be the last)."""
    history = DeltaTable.forPath(spark, path).history().where(F.col("userMetadata") == tag)
    row = history.select("operationMetrics").first()
    return None if row is None else dict(row[0] or {})


def rotate_table(
    spark: SparkSession, contract: TableContract, path: str, maps: dict[str, DataFrame], new: bytes, tag: str
) -> int | None:
    """Rewrite one table under the new key in a commit tagged ``tag``, then VACUUM it with zero
    retention; None when a commit tagged ``tag`` exists (done before a crash: only the VACUUM is redone)."""
    done = _rotation_commit(spark, path, tag)
    if done is None:
        df = spark.read.format("delta").load(path)
        out = df
        for column in pseudonymous_columns(contract):
            out = translate(out, column, maps["pseudonyms"], new)
        if SESSION in df.columns:
            out = translate(out, SESSION, maps["sessions"], new)
        writer = (
            out.write.format("delta")
            .mode("overwrite")
            .option("partitionOverwriteMode", "static")
            .option("userMetadata", tag)
        )
        if contract.partition_by:
            writer = writer.partitionBy(*contract.partition_by)
        writer.save(path)
    with retention_check_lifted(spark):
        DeltaTable.forPath(spark, path).vacuum(0.0)
    if done is not None:
        log.info("rotate-key: %s was rotated already", contract.name)
        return None
    rows = int((_rotation_commit(spark, path, tag) or {}).get("numOutputRows", 0))
    log.info("rotate-key: %s rewritten (%s rows)", contract.name, rows)
    return rows


def _record_dates(spark: SparkSession, settings: Settings, run_date: date, names: list[str]) -> dict[str, int]:
    """Manifest output rows for every date of the rotated gold and features tables: the gate and
    publish redo them, as after any job that rewrote them."""
    outputs: dict[str, set[date]] = {}
    for name in names:
        try:
            col = manifest.date_column(name)
        except ValueError:
            continue
        df = spark.read.format("delta").load(table_path(name, settings))
        outputs[name] = {r[0] for r in df.select(col).distinct().collect()}  # bounded: one row per date
    plan = manifest.Plan(job=JOB, run_date=run_date, run_id=manifest.new_run_id(), versions={}, consumed={})
    manifest.record(spark, settings, plan, outputs)
    return {k: len(v) for k, v in outputs.items()}


def last_run_date(spark: SparkSession, settings: Settings) -> date | None:
    """The latest run date any job recorded in the manifest (None before the first run)."""
    path = table_path(manifest.MANIFEST, settings)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    row = spark.read.format("delta").load(path).where(F.col("job") != JOB).agg(F.max("run_date")).first()
    return None if row is None or row[0] is None else row[0]


def rotate_key(
    spark: SparkSession,
    settings: Settings,
    old: bytes | None = None,
    new: bytes | None = None,
) -> dict[str, Any]:
    """Re-pseudonymise the lake from key ``old`` (default: the configured key) to ``new`` (default:
    ``silver.privacy.new_key_env``). Resumable. ``republish_date`` in the result is the run date the
    gate and publish should run for, so the warehouse gets the new pseudonyms (None before any run);
    ``detak rotate-key`` runs them."""
    old = pseudonym_key(settings) if old is None else old
    new = new_key(settings) if new is None else new
    if old == new:
        raise UserError("the new pseudonym key is the key in use: nothing to rotate")
    state_file, folder = _paths(settings)
    fingerprints = {"from": key_fingerprint(old), "to": key_fingerprint(new)}
    resuming = state_file.exists()
    if resuming:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if {k: state.get(k) for k in fingerprints} != fingerprints:
            raise ConfigError(
                f"a rotation from key {state.get('from')} to key {state.get('to')} is under way; resume it with those "
                f"keys (these are {fingerprints['from']} and {fingerprints['to']})"
            )
        log.info("rotate-key: resuming the rotation started at %s", state.get("started_at"))
    else:
        check_key(settings, old)
        from jobs.maintenance.forget import reapply_forget_requests

        # The request log holds old-key pseudonyms: erase its people from what arrived since, first.
        reapply_forget_requests(spark, settings)
        state = {**fingerprints, "started_at": datetime.now(UTC).isoformat(), "maps": False}
        _write_state(state_file, state)
    tables = rotated_tables(spark, settings)
    names = [c.name for c, _ in tables]
    result: dict[str, Any] = {"from": fingerprints["from"], "to": fingerprints["to"], "resumed": resuming}
    with hold(settings, [*names, "warehouse"], JOB):
        if not state.get("maps"):
            result["map_rows"] = build_maps(spark, settings, old, new, folder)
            state["maps"] = True
            _write_state(state_file, state)
        maps = {k: spark.read.parquet(str(folder / k)) for k in ("pseudonyms", "sessions")}
        rows: dict[str, int] = {}
        for contract, path in tables:
            n = rotate_table(spark, contract, path, maps, new, marker(new, str(state["started_at"])))
            if n is not None:
                rows[contract.name] = n
        result["rows_rewritten"] = rows
        result["tables_skipped"] = sorted(set(names) - set(rows))
        last = last_run_date(spark, settings)
        run_date = last or datetime.now(UTC).date()
        published = [n for n in names if n.split(".")[0] in ("gold", "features")]
        result["dates_to_republish"] = _record_dates(spark, settings, run_date, published)
        record_fingerprint(settings, new, replace=True)
        shutil.rmtree(folder, ignore_errors=True)
        state_file.unlink()
    result["republish_date"] = last
    log.info("rotate-key: %s", result)
    return result


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
