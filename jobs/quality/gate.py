"""The quality gate: validate a lake table at one Delta version with Great Expectations 1.x.

``gate(spark, table, dates, settings)`` reads the table AT its current Delta version (``versionAsOf``,
so what is validated is exactly what gets published), runs the table's suite (see
:mod:`jobs.quality.suites`) through a Checkpoint on a Spark dataframe asset (one batch per date of a
date-partitioned table), appends every expectation's outcome to ``quality.validation_results``,
rebuilds the HTML Data Docs under ``quality.data_docs_dir`` and, when a critical expectation failed,
calls the alert callback (``quality.alert_callback``). A failed critical expectation blocks the
table; warnings are reported and do not.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.contracts import TableContract, table
from jobs.common.tables import conform, delta_version, ensure_table, read_table, table_path
from jobs.quality.alerts import load_callback
from jobs.quality.suites import BATCH_VIEW, CRITICAL, WARNING, Check, build_suite, ref_view, table_checks

log = logging.getLogger(__name__)

RESULTS = "quality.validation_results"
DOCS_SITE = "detak"
DATASOURCE = "detak_spark"

# Great Expectations would otherwise try to send usage statistics (there is no network for it).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


class QualityGateError(RuntimeError):
    """A table failed critical expectations; its publication is blocked."""


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on one batch."""

    table: str
    date: date
    expectation: str
    expectation_type: str
    severity: str
    success: bool
    observed_value: str | None
    rows: int


@dataclass
class GateResult:
    """What one gate run found for one table at one Delta version."""

    table: str
    dates: list[date]
    delta_version: int
    run_id: str
    run_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    data_docs: str | None = None
    seconds: float = 0.0
    #: Great Expectations' identifiers of the run's validation results (for the Data Docs).
    validation_ids: list[Any] = field(default_factory=list)

    @property
    def failed_critical(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == CRITICAL]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == WARNING]

    @property
    def passed(self) -> bool:
        """True when no critical expectation failed (warnings do not block)."""
        return not self.failed_critical

    def message(self) -> str:
        if self.passed:
            return f"{self.table}@v{self.delta_version}: all critical expectations hold ({len(self.warnings)} warnings)"
        failed = "; ".join(f"{o.date} {o.expectation}: observed {o.observed_value}" for o in self.failed_critical)
        return (
            f"{self.table}@v{self.delta_version} blocked by failed critical expectations: {failed}. "
            f"Data Docs: {self.data_docs}"
        )

    def raise_if_failed(self) -> None:
        if not self.passed:
            raise QualityGateError(self.message())


# ------------------------------------------------------------------------------------------------
# Great Expectations context


_CONTEXTS: dict[str, Any] = {}


def gx_context(settings: Settings) -> Any:
    """The file data context of ``quality.gx_dir`` with the detak Data Docs site (made once)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = str(Path(settings["quality"]["gx_dir"]).resolve())
    if root in _CONTEXTS:
        return _CONTEXTS[root]
    Path(root).mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=root)
    config: Any = context.get_config()
    sites = config.data_docs_sites or {}
    docs_dir = str(Path(settings["quality"]["data_docs_dir"]).resolve())
    # The index lists the newest validation runs only: building it reads every result it lists,
    # and a daily gate adds a run per table and date.
    limit = int(settings["quality"]["data_docs_index_limit"])
    site: Any = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": limit},
    }
    if DOCS_SITE in sites and _plain(sites[DOCS_SITE]) != _plain(site):
        context.delete_data_docs_site(DOCS_SITE)
        sites = {}
    if DOCS_SITE not in sites:
        context.add_data_docs_site(DOCS_SITE, site)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    _CONTEXTS[root] = context
    return context


def _plain(config: Any) -> Any:
    """A site configuration as plain dicts, to compare the stored one with the wanted one."""
    if isinstance(config, dict):
        return {k: _plain(v) for k, v in config.items() if v is not None}
    return config


def build_data_docs(settings: Settings, validation_ids: list[Any]) -> str | None:
    """Render the given validation results and the index of the Data Docs once; return its URL.

    Checkpoints carry no Data Docs action: a gate run of many tables and dates renders its
    results here in one pass instead of rebuilding the index after every batch.
    """
    context = gx_context(settings)
    if validation_ids:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=validation_ids)
    urls = context.get_docs_sites_urls(site_name=DOCS_SITE)
    return str(urls[0]["site_url"]) if urls else None


def _checkpoint(
    context: Any, contract: TableContract, checks: list[Check], name: str | None = None, result_format: str = "SUMMARY"
) -> Any:
    """The checkpoint validating ``checks`` on a dataframe batch of the table (``name``: its suite's).

    ``BOOLEAN_ONLY`` skips collecting sample unexpected values, a Spark job per expectation.
    """
    import great_expectations as gx

    name = name or contract.name
    source = context.data_sources.add_or_update_spark(DATASOURCE)
    names = [a.name for a in source.assets]
    asset = source.get_asset(contract.name) if contract.name in names else source.add_dataframe_asset(contract.name)
    batch = next((b for b in asset.batch_definitions if b.name == "whole"), None)
    if batch is None:
        batch = asset.add_batch_definition_whole_dataframe("whole")
    # The suite is regenerated from the contract and checks files on every run: they are the truth.
    if name in [s.name for s in context.suites.all()]:
        context.suites.delete(name)
    suite = context.suites.add(build_suite(contract, checks, name))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[],
            result_format={"result_format": result_format, "partial_unexpected_count": 20},
        )
    )


# ------------------------------------------------------------------------------------------------
# Gate


def _observed(result: dict[str, Any], sample: int) -> str | None:
    if "observed_value" in result and result["observed_value"] is not None:
        text = str(result["observed_value"])
    elif "unexpected_count" in result:
        examples = list(result.get("partial_unexpected_list") or [])[:sample]
        text = f"{result['unexpected_count']} unexpected" + (f", e.g. {examples}" if examples else "")
    else:
        return None
    return text[:1000]


def _register_views(spark: SparkSession, checks: list[Check], days: list[date] | None, settings: Settings) -> None:
    """``detak_batch`` (a row per date of the batch) and the reference views, restricted to ``days``."""

    # Aware UTC datetimes: Spark would read naive ones in the Python process's local time zone.
    def day(d: date) -> tuple[date, datetime, datetime]:
        return d, datetime.combine(d, time.min, UTC), datetime.combine(d + timedelta(days=1), time.min, UTC)

    bounds = [day(d) for d in days or [date.today()]]  # an unpartitioned table: today's bounds
    spark.createDataFrame(bounds, "batch_date date, day_start timestamp, day_end timestamp").createOrReplaceTempView(
        BATCH_VIEW
    )
    for check in checks:
        for other, date_column in check.references.items():
            # A reference table nothing has written yet is empty, not missing.
            ensure_table(spark, other, settings)
            df = read_table(spark, other, settings)
            column = date_column or (table(other).partition_by[0] if table(other).partition_by else None)
            if days and column:
                df = df.where(F.col(column).isin(days))
            df.createOrReplaceTempView(ref_view(other))


@dataclass(frozen=True)
class _Checked:
    """One expectation's result on a batch, before it is attributed to dates."""

    name: str
    expectation_type: str
    severity: str
    success: bool
    observed_value: str | None


def _validate(
    checkpoint: Any, batch: DataFrame, checks: list[Check], run_name: str, run_time: datetime, sample: int
) -> tuple[list[Any], list[_Checked]]:
    """Run a checkpoint on one batch: its validation ids and every expectation's result."""
    from great_expectations.core.run_identifier import RunIdentifier

    by_name = {c.name: c for c in checks}
    run = checkpoint.run(
        batch_parameters={"dataframe": batch}, run_id=RunIdentifier(run_name=run_name, run_time=run_time)
    )
    checked = []
    for validation in run.run_results.values():
        for r in validation.results:
            config = r.expectation_config
            name = (config.meta or {}).get("detak_check") or config.type
            check = by_name.get(name)
            severity = check.severity if check else str(getattr(config.severity, "value", config.severity))
            observed = _observed(r.result or {}, sample)
            if r.exception_info and r.exception_info.get("raised_exception"):
                observed = f"error: {r.exception_info.get('exception_message')}"[:1000]
            checked.append(_Checked(name, config.type, severity, bool(r.success), observed))
    return list(run.run_results), checked


def _gate_dates_at_once(
    spark: SparkSession,
    snapshot: DataFrame,
    contract: TableContract,
    dates: list[date],
    context: Any,
    result: GateResult,
    settings: Settings,
) -> bool:
    """Validate every date in one batch; True when all passed (outcomes recorded per date).

    False, recording nothing, when the table's checks have no several-date form or any
    expectation failed: the caller then validates date by date, which says exactly which dates
    fail. Passing on the batch means passing on every date (``table_checks``).
    """
    checks = table_checks(contract, settings, over_dates=True)
    if checks is None:
        return False
    column = contract.partition_by[0]
    batch = snapshot.where(F.col(column).isin(dates)).persist()
    try:
        found = {r[0]: int(r[1]) for r in batch.groupBy(column).count().collect()}  # bounded: one row per date
        counts = {d: found.get(d, 0) for d in dates}
        _register_views(spark, checks, dates, settings)
        # Only whether each check holds matters here: any failure is validated again date by date,
        # with the unexpected values.
        checkpoint = _checkpoint(context, contract, checks, f"{contract.name}@dates", "BOOLEAN_ONLY")
        sample = int(settings["quality"]["sample_size"])
        run_name = f"{result.run_id}_{dates[0]}..{dates[-1]}"
        ids, checked = _validate(checkpoint, batch, checks, run_name, result.run_at.replace(tzinfo=UTC), sample)
    finally:
        batch.unpersist()
    if not all(c.success for c in checked):
        return False
    result.validation_ids.extend(ids)
    for day in dates:
        result.outcomes += [
            Outcome(result.table, day, c.name, c.expectation_type, c.severity, True, c.observed_value, counts[day])
            for c in checked
        ]
        # not_empty, from the count above (a batch of several dates cannot say it per date); a
        # date with no rows (before the data starts, say) is a warning, as it is alone.
        result.outcomes.append(
            Outcome(
                result.table, day, "not_empty", "expect_table_row_count_to_be_between", WARNING, counts[day] > 0,
                str(counts[day]), counts[day],
            )
        )  # fmt: skip
    return True


def gate(
    spark: SparkSession,
    table_name: str,
    dates: list[date],
    settings: Settings,
    *,
    version: int | None = None,
    raise_on_failure: bool = False,
    data_docs: bool = True,
    record: bool = True,
) -> GateResult:
    """Validate ``table_name`` at Delta ``version`` (default: its current one) for ``dates``.

    Several dates of a date-partitioned table are validated in one batch when every check has a
    form for it and all pass; otherwise date by date. Either way each date gets its own outcomes.
    Appends the outcomes to ``quality.validation_results`` (unless ``record`` is false: a caller
    gating many tables then calls :func:`write_results` once), renders them in the Data Docs (unless
    ``data_docs`` is false: such a caller then calls :func:`build_data_docs` once)
    and calls the alert callback when a critical expectation failed (then raises
    :class:`QualityGateError` if ``raise_on_failure``).
    """
    started = datetime.now(UTC)
    contract = table(table_name)
    dates = sorted(set(dates))
    if not dates:
        raise ValueError("gate needs at least one date")
    path = table_path(table_name, settings)
    version = delta_version(spark, path) if version is None else version
    snapshot = spark.read.format("delta").option("versionAsOf", version).load(path)
    context = gx_context(settings)
    run_id = f"{table_name}@v{version}_{started:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"
    result = GateResult(table_name, dates, version, run_id, started.replace(tzinfo=None))
    sample = int(settings["quality"]["sample_size"])

    at_once = (
        bool(contract.partition_by)
        and len(dates) > 1
        and _gate_dates_at_once(spark, snapshot, contract, dates, context, result, settings)
    )
    if not at_once:
        checks = table_checks(contract, settings)
        checkpoint = _checkpoint(context, contract, checks)
        batches: list[tuple[date, date | None, DataFrame]]
        if contract.partition_by:
            column = contract.partition_by[0]
            batches = [(d, d, snapshot.where(F.col(column) == F.lit(d))) for d in dates]
        else:
            batches = [(dates[-1], None, snapshot)]
        for day, batch_day, frame in batches:
            # Every expectation scans the batch: keep it in memory for the run.
            batch = frame.persist()
            try:
                rows = batch.count()
                _register_views(spark, checks, [batch_day] if batch_day else None, settings)
                ids, checked = _validate(checkpoint, batch, checks, f"{run_id}_{day}", started, sample)
            finally:
                batch.unpersist()
            result.validation_ids.extend(ids)
            result.outcomes += [
                Outcome(table_name, day, c.name, c.expectation_type, c.severity, c.success, c.observed_value, rows)
                for c in checked
            ]
    if data_docs:
        result.data_docs = build_data_docs(settings, result.validation_ids)
    else:
        urls = context.get_docs_sites_urls(site_name=DOCS_SITE)
        result.data_docs = urls[0]["site_url"] if urls else None
    if record:
        write_results(spark, [result], settings)
    result.seconds = (datetime.now(UTC) - started).total_seconds()
    for warning in result.warnings:
        log.warning(
            "quality warning %s %s %s: observed %s",
            table_name,
            warning.date,
            warning.expectation,
            warning.observed_value,
        )
    if not result.passed:
        log.error(result.message())
        alert = {
            "table": table_name,
            "dates": [str(d) for d in dates],
            "delta_version": version,
            "run_id": run_id,
            "failed": [
                {"date": str(o.date), "expectation": o.expectation, "observed_value": o.observed_value}
                for o in result.failed_critical
            ],
            "data_docs": result.data_docs,
            "message": result.message(),
        }
        load_callback(settings)(alert)
        if raise_on_failure:
            result.raise_if_failed()
    return result


def write_results(spark: SparkSession, results: list[GateResult], settings: Settings) -> None:
    """Append gate runs' outcomes to ``quality.validation_results`` (one small Delta append)."""
    ensure_table(spark, RESULTS, settings)
    rows = [
        (
            result.run_id,
            o.table,
            o.date,
            result.delta_version,
            o.expectation,
            o.expectation_type,
            o.severity,
            o.observed_value,
            o.success,
            o.rows,
            result.run_at,
        )
        for result in results
        for o in result.outcomes
    ]
    if not rows:
        return
    frame = spark.createDataFrame(rows, schema=table(RESULTS).spark_schema)
    conform(frame, RESULTS).write.format("delta").mode("append").save(table_path(RESULTS, settings))


def gated_versions(spark: SparkSession, table_name: str, settings: Settings) -> DataFrame:
    """Per (delta_version, date) of a table: whether its last gate run passed every critical expectation."""
    ensure_table(spark, RESULTS, settings)
    results = read_table(spark, RESULTS, settings).where(F.col("table") == table_name)
    per_run = results.groupBy("run_id", "run_at", "delta_version", "date").agg(
        F.min(F.when(F.col("severity") == CRITICAL, F.col("success").cast("int")).otherwise(1)).alias("passed")
    )
    return per_run


def validated_versions(spark: SparkSession, table_name: str, settings: Settings) -> dict[date, int]:
    """Date → the newest Delta version of ``table_name`` whose last gate run passed that date."""
    ensure_table(spark, table_name, settings)
    passed = (
        gated_versions(spark, table_name, settings)
        .groupBy("delta_version", "date")
        .agg(F.max_by("passed", "run_at").alias("passed"))
        .where(F.col("passed") == 1)
        .groupBy("date")
        .agg(F.max("delta_version").alias("delta_version"))
        .collect()  # bounded: one row per date
    )
    return {row["date"]: int(row["delta_version"]) for row in passed}


def validated_table(spark: SparkSession, table_name: str, settings: Settings) -> DataFrame:
    """A date-partitioned table as the quality gate let it through.

    Each date's rows as of the newest Delta version whose last gate run passed every critical
    expectation for that date; dates never validated, or only failing, are left out. What models
    train on is then exactly what analysts can see in the warehouse, even while a newer rewrite of
    a date waits for the gate or was blocked by it. Time travel reaches back as far as VACUUM's
    retention (``maintenance.vacuum_retention_hours``).
    """
    contract = table(table_name)
    if not contract.partition_by:
        raise ValueError(f"{table_name} is not partitioned by date: validate it whole with gate()")
    column = contract.partition_by[0]
    by_version: dict[int, list[date]] = {}
    for day, version in validated_versions(spark, table_name, settings).items():
        by_version.setdefault(version, []).append(day)
    path = table_path(table_name, settings)
    frames = [
        spark.read.format("delta").option("versionAsOf", version).load(path).where(F.col(column).isin(days))
        for version, days in sorted(by_version.items())
    ]
    if not frames:
        return read_table(spark, table_name, settings).limit(0)
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out
