"""Expectation suites as data: defaults from the table contract plus the table's ``.checks.yaml``.

Every table gets, from its contract (``schemas/tables/**/<table>.yaml``):

- ``key_unique(...)`` and ``not_null(...)`` on the grain key (``key: [cols]``; skipped when absent),
- ``not_null(col)`` for every column declared ``nullable: false``,
- ``type(col)``: the column has the contract's Spark type,
- ``accepted_values(col)`` and ``range(col)`` from a column's ``accepted_values`` / ``min`` / ``max``;
  accepted values written as a reference (``{conf: gold.abandonment.precedence, extra: [unknown]}``)
  are read from these settings, the code or an event contract, and for an ``array<...>`` column
  every item must be one of them,
- ``pseudonym(col)``: every value of a pseudonymised column (``pseudonym: true``, or a column named in
  ``quality.pseudonym_columns``) is 64 hex characters, so a raw id, an e-mail or an IP never passes,
- ``not_empty`` (a warning): the batch has rows.

All are critical except ``not_empty``; a column's ``severity: warning`` softens its value checks.

Table-specific checks live next to the contract in ``<table>.checks.yaml``::

    checks:
      - {name: funnel_non_increasing, type: non_increasing, column: sessions, order_by: step_index,
         partition_by: [date, channel], severity: critical}
      - {name: reconciles, type: row_condition, condition: "bronze_rows = silver_rows + duplicates + too_late"}
      - {name: revenue_matches_orders, type: matches_table, expression: "sum(revenue)", date_column: date,
         other_table: silver.orders, other_expression: "sum(total)", other_where: "status = 'paid'"}
      - {name: bot_share, type: aggregate_between, expression: "sum(bot_events) / sum(silver_rows)", max: 0.6}
      - {name: fresh, type: freshness, column: received_at, max_lag_hours: 6}
      - {name: any_builtin, type: expectation, expectation: expect_column_values_to_be_between,
         kwargs: {column: sessions, min_value: 0}}
      - {name: raw_sql, type: sql, query: "SELECT * FROM {batch} WHERE sessions < 0"}

Custom types compile to Great Expectations' ``UnexpectedRowsExpectation`` (a query whose rows are the
violations) run by Spark SQL; ``{batch}`` is the validated batch, ``ref_<layer>_<table>`` views are
other tables restricted to the batch's date and ``detak_batch`` has the batch's date and day bounds.

**Several dates in one batch.** ``table_checks(..., over_dates=True)`` gives the same checks for a
batch holding several dates of a date-partitioned table, each written so that it passes on the
batch exactly when it passes on every date alone: the key is made unique per date (the partition
column joins it), aggregates and freshness are grouped by date, reference views hold the batch's
dates and ``detak_batch`` has a row per date; a raw ``sql`` check whose query already works date by
date (it groups or joins by the partition column) says so with ``per_date: true`` and is run as it
is. A check with no such form (other raw ``sql``, a built-in
``expectation``, ``non_increasing`` across dates, a ``matches_table`` without dates) makes the
whole set ``None``: the gate then validates date by date. ``not_empty`` is left to the gate, which
counts each date's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import great_expectations as gx
import yaml
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from jobs.common.config import Settings
from jobs.common.contracts import ContractError, TableContract, accepted_values, parse_type

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)

#: The view holding the batch's date and its day bounds (a row per date), for checks that need the date.
BATCH_VIEW = "detak_batch"
#: Types a ``.checks.yaml`` entry may have.
CUSTOM_TYPES = (
    "expectation", "sql", "row_condition", "non_increasing", "aggregate_between", "freshness", "matches_table"
)  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One named expectation with its severity."""

    name: str
    severity: str
    expectation: Expectation
    #: Lake tables the check reads besides the batch (registered as ``ref_<layer>_<table>`` views).
    references: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ContractError(f"check {self.name}: severity must be one of {SEVERITIES}, not {self.severity!r}")


def ref_view(table_name: str) -> str:
    """Name of the temporary view a check uses to read another lake table."""
    return "ref_" + table_name.replace(".", "_")


def _expect(kind: type[Expectation], name: str, severity: str, **kwargs: Any) -> Expectation:
    return kind(**kwargs, severity=FailureSeverity(severity), meta={"detak_check": name, "severity": severity})


def _braces(sql: str) -> str:
    """Escape braces of user SQL for Great Expectations' ``str.format`` (``{batch}`` is kept)."""
    return sql.replace("{", "{{").replace("}", "}}").replace("{{batch}}", "{batch}")


def _unexpected_rows(name: str, severity: str, query: str, description: str) -> Expectation:
    return _expect(
        gx.expectations.UnexpectedRowsExpectation,
        name,
        severity,
        unexpected_rows_query=query,
        description=description,
    )


def _sql_literal(value: Any) -> str:
    """A value as a Spark SQL literal (strings quoted, quotes and backslashes escaped)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _date_column(contract: TableContract) -> str | None:
    return contract.partition_by[0] if contract.partition_by else None


def default_checks(contract: TableContract, settings: Settings, over_dates: bool = False) -> list[Check]:
    """Checks every table gets from its contract (``over_dates``: for a batch of several dates)."""
    quality = settings["quality"]
    pseudonym_names = set(quality["pseudonym_columns"])
    if contract.layer not in quality["pseudonym_layers"]:
        pseudonym_names = set()
    regex = str(quality["pseudonym_regex"])
    checks: list[Check] = []
    key = list(contract.key)
    name = f"key_unique({', '.join(key)})"
    date_col = _date_column(contract)
    if over_dates and key and date_col not in key:
        # Unique within each date is unique over (date, key) in a batch of several dates.
        key = [str(date_col), *key]
    if len(key) == 1:
        checks.append(
            Check(name, CRITICAL, _expect(gx.expectations.ExpectColumnValuesToBeUnique, name, CRITICAL, column=key[0]))
        )
    elif key:
        checks.append(
            Check(
                name,
                CRITICAL,
                _expect(gx.expectations.ExpectCompoundColumnsToBeUnique, name, CRITICAL, column_list=key),
            )
        )
    for col in contract.columns:
        if not col.nullable or col.name in contract.key:
            name = f"not_null({col.name})"
            checks.append(
                Check(
                    name,
                    CRITICAL,
                    _expect(gx.expectations.ExpectColumnValuesToNotBeNull, name, CRITICAL, column=col.name),
                )
            )
    for col in contract.columns:
        name = f"type({col.name})"
        type_name = type(parse_type(col.type)).__name__
        checks.append(
            Check(
                name,
                CRITICAL,
                _expect(gx.expectations.ExpectColumnValuesToBeOfType, name, CRITICAL, column=col.name, type_=type_name),
            )
        )
    for col in contract.columns:
        severity = col.severity or CRITICAL
        values = accepted_values(col, settings)
        if values is not None:
            name = f"accepted_values({col.name})"
            if col.is_array:
                # Great Expectations compares whole values; an array's items are checked by a query.
                listed = ", ".join(_sql_literal(v) for v in values)
                query = f"SELECT * FROM {{batch}} WHERE exists({col.name}, v -> v NOT IN ({listed}))"
                description = f"every item of {col.name} is one of {values}"
                expectation = _unexpected_rows(name, severity, _braces(query), description)
            else:
                expectation = _expect(
                    gx.expectations.ExpectColumnValuesToBeInSet, name, severity, column=col.name, value_set=values
                )
            checks.append(Check(name, severity, expectation))
        if col.min is not None or col.max is not None:
            name = f"range({col.name})"
            checks.append(
                Check(
                    name,
                    severity,
                    _expect(
                        gx.expectations.ExpectColumnValuesToBeBetween,
                        name,
                        severity,
                        column=col.name,
                        min_value=col.min,
                        max_value=col.max,
                    ),
                )
            )
        if (col.pseudonym or col.name in pseudonym_names) and col.type.lower() == "string":
            name = f"pseudonym({col.name})"
            checks.append(
                Check(
                    name,
                    CRITICAL,
                    _expect(
                        gx.expectations.ExpectColumnValuesToMatchRegex, name, CRITICAL, column=col.name, regex=regex
                    ),
                )
            )
    if not over_dates:
        checks.append(
            Check(
                "not_empty",
                WARNING,
                _expect(
                    gx.expectations.ExpectTableRowCountToBeBetween, "not_empty", WARNING, min_value=1, max_value=None
                ),
            )
        )
    return checks


def _builtin(spec: dict[str, Any], name: str, severity: str) -> Expectation:
    """A Great Expectations built-in by its snake_case type, e.g. expect_column_values_to_be_between."""
    type_name = str(spec["expectation"])
    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    kind = getattr(gx.expectations, class_name, None)
    if kind is None:
        raise ContractError(f"check {name}: unknown expectation {type_name!r}")
    return _expect(kind, name, severity, **dict(spec.get("kwargs", {})))


def custom_check(spec: dict[str, Any], contract: TableContract, over_dates: bool = False) -> Check | None:
    """One check of a ``.checks.yaml`` file; with ``over_dates``, its form for a batch of several
    dates, or None when it has none (see the module docstring)."""
    kind = spec.get("type")
    name = str(spec.get("name") or kind)
    severity = str(spec.get("severity", CRITICAL))
    description = str(spec.get("description", "")).strip()
    references: dict[str, str | None] = {}
    batch_date = _date_column(contract)
    if kind not in CUSTOM_TYPES:
        raise ContractError(f"check {name}: unknown type {kind!r}")
    if over_dates and (kind == "expectation" or (kind == "sql" and not spec.get("per_date"))):
        return None
    if kind == "expectation":
        return Check(name, severity, _builtin(spec, name, severity))
    if kind == "sql":
        query = str(spec["query"])
    elif kind == "row_condition":
        query = f"SELECT * FROM {{batch}} WHERE NOT ({_braces(str(spec['condition']))})"
        description = description or f"every row satisfies {spec['condition']}"
    elif kind == "non_increasing":
        col, order = spec["column"], spec["order_by"]
        if over_dates and batch_date not in spec.get("partition_by", []):
            return None
        groups = ", ".join(spec.get("partition_by", []))
        over = f"PARTITION BY {groups} ORDER BY {order}" if groups else f"ORDER BY {order}"
        query = (
            f"SELECT * FROM (SELECT *, LAG({col}) OVER ({over}) AS _previous FROM {{batch}}) WHERE {col} > _previous"
        )
        description = description or f"{col} never increases with {order} within ({groups})"
    elif kind == "aggregate_between":
        expr = _braces(str(spec["expression"]))
        bounds = []
        if spec.get("min") is not None:
            bounds.append(f"value < {float(spec['min'])}")
        if spec.get("max") is not None:
            bounds.append(f"value > {float(spec['max'])}")
        if not bounds:
            raise ContractError(f"check {name}: aggregate_between needs min or max")
        if over_dates:
            query = (
                f"SELECT d, value FROM (SELECT {batch_date} AS d, {expr} AS value FROM {{batch}} "
                f"GROUP BY {batch_date}) WHERE {' OR '.join(bounds)}"
            )
        else:
            query = f"SELECT value FROM (SELECT {expr} AS value FROM {{batch}}) WHERE {' OR '.join(bounds)}"
        description = description or f"{spec['expression']} within [{spec.get('min')}, {spec.get('max')}]"
    elif kind == "freshness":
        col, lag = spec["column"], float(spec.get("max_lag_hours", 24))
        stale = f"m.latest IS NULL OR m.latest < b.day_end - make_dt_interval(0, 0, 0, {lag * 3600})"
        if over_dates:
            query = (
                f"SELECT b.batch_date, m.latest, b.day_end FROM {BATCH_VIEW} b LEFT JOIN "
                f"(SELECT {batch_date} AS d, max({col}) AS latest FROM {{batch}} GROUP BY {batch_date}) m "
                f"ON m.d = b.batch_date WHERE {stale}"
            )
        else:
            query = (
                f"SELECT m.latest, b.day_end FROM (SELECT max({col}) AS latest FROM {{batch}}) m "
                f"CROSS JOIN {BATCH_VIEW} b WHERE {stale}"
            )
        description = description or f"latest {col} at most {lag:g} hours before the end of the date"
    elif kind == "matches_table":
        other = str(spec["other_table"])
        view = ref_view(other)
        references[other] = spec.get("other_date_column")
        date_col = spec.get("date_column") or (contract.partition_by[0] if contract.partition_by else None)
        other_date = spec.get("other_date_column")
        tolerance = float(spec.get("tolerance", 0))
        where = f"WHERE {_braces(str(spec['other_where']))}" if spec.get("other_where") else ""
        mine = _braces(str(spec["expression"]))
        theirs = _braces(str(spec["other_expression"]))
        if date_col and other_date:
            query = (
                f"SELECT * FROM (SELECT {date_col} AS d, {mine} AS value FROM {{batch}} GROUP BY {date_col}) a "
                f"FULL OUTER JOIN (SELECT {other_date} AS d, {theirs} AS expected FROM {view} {where} "
                f"GROUP BY {other_date}) b USING (d) "
                f"WHERE abs(coalesce(a.value, 0) - coalesce(b.expected, 0)) > {tolerance}"
            )
        elif over_dates:
            return None
        else:
            query = (
                f"SELECT * FROM (SELECT {mine} AS value FROM {{batch}}) a "
                f"CROSS JOIN (SELECT {theirs} AS expected FROM {view} {where}) b "
                f"WHERE abs(coalesce(a.value, 0) - coalesce(b.expected, 0)) > {tolerance}"
            )
        description = description or f"{spec['expression']} equals {spec['other_expression']} of {other}"
    return Check(name, severity, _unexpected_rows(name, severity, query, description or name), references)


def checks_file(contract: TableContract) -> Path | None:
    """``<table>.checks.yaml`` next to the contract file, when there is one."""
    return contract.checks_path


@overload
def table_checks(contract: TableContract, settings: Settings) -> list[Check]: ...
@overload
def table_checks(contract: TableContract, settings: Settings, over_dates: bool) -> list[Check] | None: ...


def table_checks(contract: TableContract, settings: Settings, over_dates: bool = False) -> list[Check] | None:
    """Every check of a table: the contract's defaults, then its ``.checks.yaml``.

    With ``over_dates`` (a date-partitioned table only), their forms for a batch of several dates,
    or None when one of them has none.
    """
    if over_dates and _date_column(contract) is None:
        return None
    checks = default_checks(contract, settings, over_dates)
    path = checks_file(contract)
    if path is not None:
        doc = yaml.safe_load(path.read_text()) or {}
        for spec in doc.get("checks", []):
            check = custom_check(spec, contract, over_dates)
            if check is None:
                return None
            checks.append(check)
    names = [c.name for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ContractError(f"{contract.name}: check names must be unique, repeated: {duplicates}")
    return checks


def build_suite(contract: TableContract, checks: list[Check], name: str | None = None) -> gx.ExpectationSuite:
    """The Great Expectations suite of a table (named after it unless ``name`` is given)."""
    suite = gx.ExpectationSuite(
        name=name or contract.name, meta={"grain": contract.grain, "description": contract.description}
    )
    for check in checks:
        suite.add_expectation(check.expectation)
    return suite
