"""Contract validation of landing lines, as Spark expressions over the parsed columns.

``validate(lines, source, max_line_bytes, time_rules)`` is the pure transform: it takes raw lines
and returns each line parsed by the source's contract with a ``reason`` (null when the line is
valid). Two reasons are decided earlier, while a landing file is read (:mod:`jobs.bronze.landing`):
``invalid_encoding`` and ``oversized_line`` (a line too long is not even held whole). Of the rest,
the first reason that applies wins, in this order:

================== ===========================================================================
empty_line         nothing but whitespace
oversized_line     longer than ``ingest.max_line_bytes`` (not parsed at all)
malformed_json     not a JSON object (truncated, garbage, an array)
malformed_record   a tracker format's line of the wrong shape (see :mod:`jobs.bronze.formats`)
unmapped_event     a tracker event the source's format has no rule for
other_source       a tracker event its format sends to another detak source
unknown_event_type ``event_type`` missing or not a type of this source
type_mismatch      a value of the wrong JSON type (text in a number, a bad timestamp, ...)
missing_required   a field the event type requires is absent or null
oversized_field    a string longer than its ``maxLength``
invalid_value      outside its ``enum``, ``minimum``/``maximum`` or ``pattern``
implausible_time   the corrected event time (see :mod:`jobs.common.eventtime`) or received_at is
                   before ``ingest.plausible_time.earliest``, or the event time is more than
                   ``max_hours_after_received`` after received_at: a clock no correction can mend
================== ===========================================================================
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.config import Settings
from jobs.common.contracts import SourceContract, events_dir, is_nullable, source_contract, spark_type
from jobs.common.eventtime import corrected_time
from jobs.common.spark import built_once

CORRUPT = "_corrupt_record"
REASONS = [
    "invalid_encoding",
    "oversized_line",
    "empty_line",
    "malformed_json",
    "malformed_record",
    "unmapped_event",
    "other_source",
    "unknown_event_type",
    "type_mismatch",
    "missing_required",
    "oversized_field",
    "invalid_value",
    "implausible_time",
]


def time_rules_of(settings: Settings) -> dict[str, Any]:
    """What :func:`validate` needs to judge event times: ``ingest.plausible_time`` and the clock rule."""
    return {**settings["ingest"]["plausible_time"], "clock_skew": settings["silver"]["clock_skew"]}


def _implausible(contract: SourceContract, rules: dict[str, Any] | None) -> Column:
    """The line's times are beyond mending: see ``implausible_time`` in the module docstring."""
    if not rules:
        return F.lit(False)
    sent = F.col("p.sent_at") if "sent_at" in contract.columns else F.lit(None).cast("timestamp")
    event_time, _ = corrected_time(rules["clock_skew"], F.col("p.event_time"), sent, F.col("p.received_at"))
    earliest = F.lit(str(rules["earliest"])).cast("timestamp")
    ahead = F.expr(f"INTERVAL {int(float(rules['max_hours_after_received']) * 3600)} SECONDS")
    bad = (event_time < earliest) | (F.col("p.received_at") < earliest) | (event_time > F.col("p.received_at") + ahead)
    return F.coalesce(bad, F.lit(False))


def _violations(checks: list[tuple[Column, str]]) -> Column:
    """An array of the messages whose condition holds (empty when none does)."""
    if not checks:
        return F.array().cast(T.ArrayType(T.StringType()))
    return F.array_compact(F.array(*[F.when(cond, F.lit(msg)) for cond, msg in checks]))


def _any(checks: list[tuple[Column, str]]) -> Column:
    """True when any condition holds: a plain boolean, cheap on the valid lines that are nearly all."""
    conds = [F.coalesce(cond, F.lit(False)) for cond, _ in checks]
    out = F.lit(False)
    for cond in conds:
        out = out | cond
    return out


def _per_type(contract: SourceContract, build: Any) -> tuple[Column, Column]:
    """``(violated, messages)``: CASE over event_type of that type's checks, as one boolean and
    as the array of messages. Only lines with ``violated`` true need the array built."""
    violated = messages = None
    for et in contract.event_types.values():
        checks = build(et)
        cond = F.col("p.event_type") == F.lit(et.name)
        violated = F.when(cond, _any(checks)) if violated is None else violated.when(cond, _any(checks))
        branch = _violations(checks)
        messages = F.when(cond, branch) if messages is None else messages.when(cond, branch)
    assert violated is not None and messages is not None
    return violated.otherwise(F.lit(False)), messages.otherwise(F.array().cast(T.ArrayType(T.StringType())))


def _required_checks(et: Any) -> list[tuple[Column, str]]:
    checks = []
    for name in et.required:
        # A field that may be null must still be present as a key; any other is missing exactly
        # when it parsed to null (a value of the wrong type was caught as type_mismatch before).
        if is_nullable(et.properties[name]):
            bad = ~F.array_contains(F.col("keys"), name)
        else:
            bad = F.col(f"p.{name}").isNull()
        checks.append((bad, name))
    return checks


def _null_checks(et: Any) -> list[tuple[Column, str]]:
    """Optional fields given as JSON null where the contract allows no null (absent is fine)."""
    return [
        (F.array_contains(F.col("keys"), name) & F.col(f"p.{name}").isNull(), name)
        for name, prop in et.properties.items()
        if name not in et.required and not is_nullable(prop)
    ]


def _length_checks(et: Any) -> list[tuple[Column, str]]:
    # A string of at most maxLength bytes has at most maxLength characters: counting characters
    # (a scan of the string) is left to the rare values longer than that in bytes.
    return [
        (
            (F.octet_length(F.col(f"p.{name}")) > prop["maxLength"])
            & (F.char_length(F.col(f"p.{name}")) > prop["maxLength"]),
            f"{name} longer than {prop['maxLength']}",
        )
        for name, prop in et.properties.items()
        if "maxLength" in prop and isinstance(spark_type(prop), T.StringType)
    ]


def _value_checks(et: Any) -> list[tuple[Column, str]]:
    checks: list[tuple[Column, str]] = []
    for name, prop in et.properties.items():
        if name == "event_type":
            continue
        col = F.col(f"p.{name}")
        if "const" in prop:
            checks.append((col.isNotNull() & (col != F.lit(prop["const"])), f"{name} is not {prop['const']}"))
        if "enum" in prop:
            allowed = [v for v in prop["enum"] if v is not None]
            checks.append((col.isNotNull() & ~col.isin(allowed), f"{name} not in {allowed}"))
        if "minimum" in prop:
            checks.append((col < F.lit(prop["minimum"]), f"{name} below {prop['minimum']}"))
        if "maximum" in prop:
            checks.append((col > F.lit(prop["maximum"]), f"{name} above {prop['maximum']}"))
        if "pattern" in prop:
            checks.append((~col.rlike(prop["pattern"]), f"{name} does not match {prop['pattern']}"))
        if "maxItems" in prop:
            checks.append((F.size(col) > prop["maxItems"], f"{name} has more than {prop['maxItems']} items"))
    return checks


def _could_be_json(text: Column) -> Column:
    """Text that may be a JSON object, array or boolean the reader kept as its text."""
    return text.startswith("{") | text.startswith("[") | text.isin("true", "false")


def _suspect(col: Column, dtype: T.DataType) -> tuple[Column, int] | None:
    """For a field holding text (itself, its map values, its array's texts or their structs'
    texts): whether any such text could be kept JSON, and how many objects and arrays the field's
    own type has. None for a field with no text in it."""
    if isinstance(dtype, T.StringType):
        return _could_be_json(col), 0
    if isinstance(dtype, T.MapType) and isinstance(dtype.valueType, T.StringType):
        return F.exists(F.map_values(col), _could_be_json), 1
    if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.StringType):
        return F.exists(col, _could_be_json), 1
    if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.StructType):
        texts = [f.name for f in dtype.elementType.fields if isinstance(f.dataType, T.StringType)]
        if not texts:
            return None
        nested = [f for f in dtype.elementType.fields if not isinstance(f.dataType, T.AtomicType)]
        if nested:
            return None
        return F.exists(col, lambda x: _any([(_could_be_json(x[t]), t) for t in texts])), 2
    return None


def _structured_text(contract: SourceContract) -> list[tuple[Column, str]]:
    """Text (a field, a map's values, an array's texts) whose JSON value is an object, an array or a
    boolean.

    Spark's JSON reader keeps such a value as its JSON text where a string is expected, so a line
    with a text that could be one (``true``, ``false``, or starting with ``{`` or ``[``: rare) is
    parsed again as a Variant: the field then holds more objects and arrays than its type has, or a
    boolean. A number stays accepted as its text (docs/bronze.md).
    """
    line = F.try_parse_json(F.col("value"))
    checks = []
    for field in contract.spark_schema.fields:
        suspect = _suspect(F.col(f"p.{field.name}"), field.dataType)
        if suspect is None:
            continue
        condition, containers = suspect
        kind = F.schema_of_variant(F.try_variant_get(line, f"$.{field.name}", "variant"))
        found = F.size(F.split(kind, "OBJECT<|ARRAY<")) - 1
        structured = (found > F.lit(containers)) | kind.contains("BOOLEAN")
        checks.append((F.when(F.coalesce(condition, F.lit(False)), structured).otherwise(F.lit(False)), field.name))
    return checks


def _type_mismatch_fields(contract: SourceContract) -> Column:
    """Top-level fields present in the JSON with a value that did not parse into their type, or an
    object or array given for a text field."""
    checks = []
    for name in contract.columns:
        raw = F.get_json_object(F.col("value"), f"$.{name}")
        checks.append((raw.isNotNull() & F.col(f"p.{name}").isNull(), name))
    return _violations(checks + _structured_text(contract))


def validate(lines: DataFrame, source: str, max_line_bytes: int, time_rules: dict[str, Any] | None = None) -> DataFrame:
    """Parse and validate raw lines (column ``value``) by the contract of ``source``.

    ``time_rules`` (:func:`time_rules_of`) adds the ``implausible_time`` check; without it, times
    are only checked for their type.

    Returns every input column, the parsed struct ``p``, ``line_bytes``, ``reason`` and
    ``reason_detail``; ``reason`` is null exactly for valid lines. One output row per input row.
    """
    contract = source_contract(source)
    schema = contract.spark_schema.add(T.StructField(CORRUPT, T.StringType(), True))
    # The reader of the landing file may have measured the delivered line already (it may hold a
    # prefix or a repaired text of it); otherwise the line is as delivered.
    if "line_bytes" not in lines.columns:
        lines = lines.withColumn("line_bytes", F.octet_length(F.col("value")).cast("long"))
    oversized = F.col("line_bytes") > F.lit(max_line_bytes)
    parseable = ~oversized & (F.trim(F.col("value")) != F.lit(""))
    parsed = lines.select(
        "*",
        F.when(
            parseable, F.from_json(F.col("value"), schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT})
        ).alias("p"),
        F.when(parseable, F.json_object_keys(F.col("value"))).alias("keys"),
    )
    rules = json.dumps(time_rules, sort_keys=True, default=str)
    key = ("validate", str(events_dir()), source, max_line_bytes, rules)
    reason = built_once(key, lambda: _verdict(contract, max_line_bytes, time_rules))
    return (
        parsed.withColumn("_verdict", reason)
        .select(
            "*",
            F.col("_verdict.r").alias("reason"),
            F.col("_verdict.d").alias("reason_detail"),
        )
        .drop("_verdict")
    )


def _verdict(contract: SourceContract, max_line_bytes: int, time_rules: dict[str, Any] | None) -> Column:
    """The struct (r: reason, d: detail) of a parsed line: the first reason that applies, or nulls."""
    known = list(contract.event_types)
    oversized = F.col("line_bytes") > F.lit(max_line_bytes)
    empty = F.trim(F.col("value")) == F.lit("")
    any_null, nulls = _per_type(contract, _null_checks)
    any_missing, missing = _per_type(contract, _required_checks)
    any_too_long, too_long = _per_type(contract, _length_checks)
    any_invalid, invalid = _per_type(contract, _value_checks)
    mismatched = _type_mismatch_fields(contract)

    def detail(arr: Column, prefix: str) -> Column:
        return F.concat(F.lit(prefix), F.array_join(arr, ", "))

    def verdict(code: str, why: Column) -> Column:
        return F.struct(F.lit(code).alias("r"), why.cast("string").alias("d"))

    et = F.col("p.event_type")
    size_text = F.concat(F.lit("line of "), F.col("line_bytes").cast("string"), F.lit(f" bytes > {max_line_bytes}"))
    return (
        F.when(empty, verdict("empty_line", F.lit(None)))
        .when(oversized, verdict("oversized_line", size_text))
        .when(F.col("keys").isNull(), verdict("malformed_json", F.lit("not a JSON object")))
        .when(
            et.isNull() | ~et.isin(known),
            verdict("unknown_event_type", F.concat(F.lit("event_type "), F.coalesce(et, F.lit("missing")))),
        )
        .when(
            F.col(f"p.{CORRUPT}").isNotNull() | _any(_structured_text(contract)),
            verdict(
                "type_mismatch",
                F.when(F.size(mismatched) > 0, detail(mismatched, "wrong type: ")).otherwise(
                    F.lit("wrong type in a nested field")
                ),
            ),
        )
        .when(any_null, verdict("type_mismatch", detail(nulls, "null not allowed: ")))
        .when(any_missing, verdict("missing_required", detail(missing, "missing: ")))
        .when(any_too_long, verdict("oversized_field", F.array_join(too_long, ", ")))
        .when(any_invalid, verdict("invalid_value", F.array_join(invalid, ", ")))
        .when(
            _implausible(contract, time_rules),
            verdict(
                "implausible_time",
                F.concat(
                    F.lit("event_time "),
                    F.coalesce(F.col("p.event_time").cast("string"), F.lit("?")),
                    F.lit(", received_at "),
                    F.coalesce(F.col("p.received_at").cast("string"), F.lit("?")),
                ),
            ),
        )
    )
