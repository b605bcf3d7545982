"""Tracker formats: landing lines in a tracker's own shape → lines of detak's event contracts.

A landing source reads lines of one format (``ingest.formats.<source>``, ``detak`` by default).
Each other format is a declarative mapping in ``schemas/formats/<format>.yaml`` (see
``docs/formats.md``): how a line is read (JSON or a TSV with named columns), how its event name is
found, and for each tracker event the detak source and event type it becomes and where each detak
field comes from. Nothing here knows any tracker: the mapping compiles to Spark expressions that
turn each line into a JSON line of the detak contract, which :mod:`jobs.bronze.validate` then checks
like any other, so everything downstream of bronze is unchanged.

A line the mapping cannot place keeps its text and gets a reason before validation:

================ =========================================================================
malformed_record a TSV line without the format's number of fields
unmapped_event   an event (or call) the mapping has no rule for, or no event name at all
other_source     an event the mapping sends to another detak source (which ingests it when it
                 reads the same folder)
================ =========================================================================

References in a mapping (a bare string is a reference; ``{...}`` inside a string is a template):

``$.a.b``          JSON path into the line (JSON formats) or into the current item (``each``)
``@col``           a TSV column; ``@col$.a`` a JSON path into the JSON held by that column
``ue:$.a``         the data of the Snowplow self-describing event in ``@unstruct_event``
``ctx:name$.a``    the data of the first entity named ``name`` in ``@contexts`` (Snowplow)
``param:key``      the value of a GA4 ``event_params`` entry, whatever its value type
``conf:key``       a value of ``ingest.tracker`` (defaults the tracker does not carry)

Value forms: a reference or template, ``{const: v}``, ``{first: [v, ...]}`` (first non-null),
``{sum: [v, ...]}`` (null only when all are), ``{hash: [v, ...]}`` (a stable id from the values),
``{difference: [a, b, ...]}`` (a minus the others), ``{when: v, then: w}`` (w when v is present),
``{from: v, as: micros | utc | page_type | words}``, ``{each: ref, fields: {...}}`` (an array of
objects).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.config import Settings
from jobs.common.contracts import ContractError, events_dir, source_contract
from jobs.common.errors import UserError
from jobs.common.spark import built_once

DETAK = "detak"
_REF = re.compile(
    r"^(\$[^{}]*|@[a-z_0-9]+(\$[^{}]*)?|ue:\$[^{}]*|ctx:[a-z_0-9]+\*?(\$[^{}]*)?|param:[a-z_0-9]+|conf:[a-z_0-9]+)$"
)
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$"
_GA4_PARAMS = (
    "array<struct<key:string,value:struct<string_value:string,int_value:string,float_value:string,"
    "double_value:string>>>"
)
_ENTITIES = "struct<data:array<struct<schema:string,data:string>>>"


def formats_dir() -> Path:
    return events_dir().parent / "formats"


def known_formats() -> list[str]:
    return [DETAK, *sorted(p.stem for p in formats_dir().glob("*.yaml"))]


@dataclass(frozen=True)
class EventRule:
    """One tracker event: the detak event it becomes and that event's field specs."""

    name: str
    source: str
    event_type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    reader: str  # json | tsv
    columns: tuple[str, ...]
    event_name: tuple[Any, ...]
    events: dict[str, EventRule]

    def sources(self) -> set[str]:
        return {r.source for r in self.events.values()}


@cache
def load_format(name: str) -> Format:
    """The mapping of ``name``, checked against the event contracts (a bad mapping fails here)."""
    path = formats_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"unknown landing format {name!r} (ingest.formats): use one of {', '.join(known_formats())}")
    doc = yaml.safe_load(path.read_text())
    reader = doc.get("reader")
    if reader not in ("json", "tsv"):
        raise ContractError(f"{path}: reader must be json or tsv, not {reader!r}")
    columns = tuple(doc.get("columns") or ())
    if reader == "tsv" and not columns:
        raise ContractError(f"{path}: a tsv reader needs its columns")
    common: dict[str, dict[str, Any]] = doc.get("common") or {}
    events: dict[str, EventRule] = {}
    for name_, rule in (doc.get("events") or {}).items():
        source, _, event_type = str(rule["to"]).partition(".")
        contract = source_contract(source)
        if event_type not in contract.event_types:
            raise ContractError(f"{path}: {name_!r} maps to {rule['to']!r}, not an event type of the contracts")
        props = contract.event_types[event_type].properties
        own = dict(rule.get("fields") or {})
        for field in own:
            if field not in props:
                raise ContractError(f"{path}: {name_!r} sets {field!r}, which {rule['to']} does not have")
        base = {k: v for k, v in (common.get(source) or {}).items() if k in props}
        fields = {"event_type": {"const": event_type}, **base, **own}
        for spec in fields.values():
            _check_spec(spec, path, columns)
        events[str(name_)] = EventRule(str(name_), source, event_type, fields)
    names = doc.get("event_name")
    event_name = tuple(names if isinstance(names, list) else [names])
    for spec in event_name:
        _check_spec(spec, path, columns)
    return Format(name, str(doc.get("description", "")), reader, columns, event_name, events)


def _check_spec(spec: Any, path: Path, columns: tuple[str, ...]) -> None:
    if isinstance(spec, str):
        refs = _TEMPLATE.findall(spec) if "{" in spec else [spec]
        for ref in refs:
            if not _REF.match(ref):
                raise ContractError(f"{path}: {ref!r} is not a reference (a constant is written {{const: ...}})")
            if ref.startswith("@") and ref[1:].split("$")[0] not in columns:
                raise ContractError(f"{path}: {ref!r} names no column of the format")
        return
    if isinstance(spec, dict) and "when" in spec and set(spec) == {"when", "then"}:
        _check_spec(spec["when"], path, columns)
        _check_spec(spec["then"], path, columns)
        return
    if not isinstance(spec, dict) or len(spec.keys() - {"as", "fields"}) != 1:
        raise ContractError(f"{path}: cannot read the field spec {spec!r}")
    if "const" in spec:
        return
    if "from" in spec:
        if spec.get("as") not in ("micros", "utc", "page_type", "words"):
            raise ContractError(f"{path}: unknown conversion {spec.get('as')!r}")
        _check_spec(spec["from"], path, columns)
        return
    if "each" in spec:
        for sub in (spec.get("fields") or {}).values():
            _check_spec(sub, path, columns)
        return
    for key in ("first", "sum", "difference", "hash"):
        if key in spec:
            for sub in spec[key]:
                _check_spec(sub, path, columns)
            return
    raise ContractError(f"{path}: cannot read the field spec {spec!r}")


def format_of(source: str, settings: Settings) -> str:
    return str((settings["ingest"].get("formats") or {}).get(source) or DETAK)


class _Scope:
    """What references resolve against: the line (or the current item) and its parsed parts."""

    def __init__(self, fmt: Format, line: Column, tracker: dict[str, Any], item: Column | None = None) -> None:
        self.fmt = fmt
        self.line = line
        self.item = item
        self.tracker = tracker
        self.page_types = list(self.tracker.get("page_types") or [])
        if fmt.reader == "tsv":
            self.fields = F.split(line, "\t", -1)

    def column(self, name: str) -> Column:
        value = F.try_element_at(self.fields, F.lit(self.fmt.columns.index(name) + 1))
        return F.when(value != F.lit(""), value)

    def ref(self, ref: str) -> Column:
        if ref.startswith("$"):
            root = self.item if self.item is not None else self.line
            return F.get_json_object(root, ref)
        if ref.startswith("@"):
            name, _, path = ref[1:].partition("$")
            col = self.column(name)
            return F.get_json_object(col, "$" + path) if path else col
        if ref.startswith("ue:"):
            return F.get_json_object(self.column("unstruct_event"), "$.data.data" + ref[4:])
        if ref.startswith("ctx:"):
            name, _, path = ref[4:].partition("$")
            entity = F.try_element_at(self.entities(name.rstrip("*")), F.lit(1))
            return F.get_json_object(entity, "$" + path) if path else entity
        if ref.startswith("param:"):
            params = F.from_json(F.get_json_object(self.line, "$.event_params"), _GA4_PARAMS)
            key = ref.removeprefix("param:")
            hit = F.try_element_at(F.filter(params, lambda p: p["key"] == F.lit(key)), F.lit(1))["value"]
            return F.coalesce(hit["string_value"], hit["int_value"], hit["double_value"], hit["float_value"])
        if ref.startswith("conf:"):
            value = self.tracker.get(ref.removeprefix("conf:"))
            if value is None:
                return F.lit(None).cast("string")
            return F.lit(str(value).lower() if isinstance(value, bool) else str(value))
        raise ContractError(f"unknown reference {ref!r}")

    def entities(self, name: str) -> Column:
        """The data (JSON text) of every entity of ``@contexts`` whose schema is named ``name``."""
        parsed = F.from_json(self.column("contexts"), _ENTITIES)["data"]
        named = F.filter(parsed, lambda e: e["schema"].rlike(f"/{re.escape(name)}/jsonschema/"))
        return F.transform(named, lambda e: e["data"])

    def array(self, ref: str) -> Column:
        """The items (JSON text each) an ``each`` walks."""
        if ref.startswith("ctx:") and ref.endswith("*"):
            found = self.entities(ref[4:-1])
            return F.when(F.size(found) > 0, found)  # no entity: the field is absent
        return F.from_json(self.ref(ref), T.ArrayType(T.StringType()))

    def text(self, spec: Any) -> Column:
        """A spec → its value as text (null when absent)."""
        if isinstance(spec, str):
            if "{" not in spec:
                return self.ref(spec)
            parts: list[Column] = []
            pos = 0
            for m in _TEMPLATE.finditer(spec):
                if m.start() > pos:
                    parts.append(F.lit(spec[pos : m.start()]))
                parts.append(self.ref(m.group(1)))
                pos = m.end()
            if pos < len(spec):
                parts.append(F.lit(spec[pos:]))
            return F.concat(*parts)  # null when any reference is
        if "const" in spec:
            value = spec["const"]
            if value is None:
                return F.lit(None).cast("string")
            return F.lit(str(value).lower() if isinstance(value, bool) else str(value))
        if "first" in spec:
            return F.coalesce(*[self.text(s) for s in spec["first"]])
        if "sum" in spec:
            terms = [F.when(self.text(s).rlike(_NUMBER), self.text(s).cast("double")) for s in spec["sum"]]
            total = terms[0]
            for term in terms[1:]:
                total = F.when(total.isNull(), term).when(term.isNull(), total).otherwise(total + term)
            return total.cast("string")
        if "when" in spec:
            return F.when(self.text(spec["when"]).isNotNull(), self.text(spec["then"]))
        if "difference" in spec:
            head, *rest = [F.when(self.text(s).rlike(_NUMBER), self.text(s).cast("double")) for s in spec["difference"]]
            for term in rest:
                head = head - F.coalesce(term, F.lit(0.0))
            return head.cast("string")
        if "hash" in spec:
            return F.substring(
                F.sha2(F.concat_ws("\x1f", *[F.coalesce(self.text(s), F.lit("")) for s in spec["hash"]]), 256), 1, 32
            )
        if "from" in spec:
            return self.convert(self.text(spec["from"]), spec["as"])
        raise ContractError(f"cannot read the field spec {spec!r}")

    def convert(self, value: Column, how: str) -> Column:
        if how == "micros":
            ts = F.timestamp_micros(F.when(value.rlike(r"^\s*[0-9]+\s*$"), value.cast("long")))
            return F.date_format(ts, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
        if how == "utc":
            # Snowplow writes UTC without an offset ("2013-11-26 00:03:57.885").
            iso = F.regexp_replace(value, " ", "T")
            return F.when(iso.rlike(r"(Z|[+-][0-9]{2}:?[0-9]{2})$"), iso).otherwise(F.concat(iso, F.lit("Z")))
        if how == "words":
            # A JSON array of words (Snowplow's search terms) → the words joined by spaces.
            return F.coalesce(F.array_join(F.from_json(value, T.ArrayType(T.StringType())), " "), value)
        if how == "page_type":
            url = F.call_function("try_parse_url", value, F.lit("PATH"))
            path = F.coalesce(F.when(value.rlike("^[a-zA-Z]+://"), url).otherwise(value), F.lit(""))
            kind = F.lit(self.tracker.get("default_page_type", "other"))
            for rule in reversed(self.page_types):
                kind = F.when(path.rlike(str(rule["pattern"])), F.lit(str(rule["type"]))).otherwise(kind)
            return F.when(value.isNotNull(), kind)
        raise ContractError(f"unknown conversion {how!r}")

    def json(self, spec: Any, prop: dict[str, Any]) -> Column:
        """A spec → a JSON value for a contract property (null leaves the field out)."""
        if isinstance(spec, dict) and "each" in spec:
            item_props = (prop.get("items") or {}).get("properties") or {}
            items = self.array(spec["each"])

            def one(x: Column) -> Column:
                scope = _Scope(self.fmt, self.line, self.tracker, item=x)
                if self.fmt.reader == "tsv":
                    scope.fields = self.fields
                return _object({k: scope.json(v, item_props.get(k, {})) for k, v in (spec.get("fields") or {}).items()})

            return F.when(
                items.isNotNull(), F.concat(F.lit("["), F.array_join(F.transform(items, one), ","), F.lit("]"))
            )
        return _as_json(self.text(spec), prop)


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type", "string")
    return set(kind if isinstance(kind, list) else [kind]) - {"null"}


def _quote(text: Column) -> Column:
    """``text`` as a JSON string literal."""
    return F.when(text.isNotNull(), F.regexp_extract(F.to_json(F.array(text)), r"^\[(.*)\]$", 1))


def _as_json(text: Column, prop: dict[str, Any]) -> Column:
    """Text → the JSON value the contract property expects; a value that does not fit is kept as a
    JSON string, so that validation quarantines the line as ``type_mismatch``."""
    kinds = _types(prop)
    if kinds & {"integer", "number"}:
        number = text.cast("double")
        as_number = F.round(number).cast("long").cast("string") if "integer" in kinds else number.cast("string")
        return F.when(text.rlike(_NUMBER), as_number).otherwise(_quote(text))
    if "boolean" in kinds:
        low = F.lower(F.trim(text))
        yes, no = ("true", "1", "yes", "granted"), ("false", "0", "no", "denied")
        return F.when(low.isin(*yes), F.lit("true")).when(low.isin(*no), F.lit("false")).otherwise(_quote(text))
    if kinds & {"object", "array"}:
        return F.when(F.trim(text).rlike(r"^[\[{]"), text).otherwise(_quote(text))
    return _quote(text)


def _object(members: dict[str, Column]) -> Column:
    """A JSON object of the non-null members."""
    return F.concat(
        F.lit("{"), F.concat_ws(",", *[F.concat(F.lit(f'"{k}":'), v) for k, v in members.items()]), F.lit("}")
    )


def translate(decoded: DataFrame, source: str, settings: Settings) -> DataFrame:
    """Decoded landing lines of ``source`` (:data:`jobs.bronze.ingest.DECODED`) in its format → the
    same rows with ``value`` a detak-contract line, ``raw_value`` the delivered line, and a reason
    (``pre_reason``) for lines the mapping cannot place. Lines of the ``detak`` format pass as they
    are (``raw_value`` null)."""
    name = format_of(source, settings)
    if name == DETAK:
        return decoded.select(
            "*", F.lit(None).cast("string").alias("raw_value"), F.lit(None).cast("string").alias("tracker_event")
        )
    fmt = load_format(name)
    if source not in fmt.sources():
        raise ContractError(f"format {name!r} maps no event to the {source} source")
    tracker = dict(settings["ingest"].get("tracker") or {})
    # Sources reading the same folder in the same format share its lines: each line is kept whole
    # by the one it belongs to (its bronze table, or its quarantine when it is bad), and the others
    # record an other_source row without a copy of the line. The first such source in
    # ingest.sources keeps the lines that belong to none (unmapped, malformed).
    sharing = [
        s for s in settings["ingest"]["sources"]
        if format_of(s, settings) == name and _folder(s, settings) == _folder(source, settings)
    ]  # fmt: skip
    key = ("translate", str(formats_dir()), name, source, yaml.safe_dump(tracker, sort_keys=True), tuple(sharing))
    value, raw_value, pre_reason, pre_detail, tracker_event = built_once(
        key, lambda: _translation(fmt, source, tracker, sharing)
    )
    out = decoded.select(
        *[c for c in decoded.columns if c not in ("value", "pre_reason", "pre_detail")],
        value.alias("value"),
        raw_value.alias("raw_value"),
        pre_reason.alias("pre_reason"),
        pre_detail.alias("pre_detail"),
        tracker_event.alias("tracker_event"),
    )
    return out.select(*decoded.columns, "raw_value", "tracker_event")


def _translation(
    fmt: Format, source: str, tracker: dict[str, Any], sharing: list[str]
) -> tuple[Column, Column, Column, Column, Column]:
    """The columns of :func:`translate` (value, raw_value, pre_reason, pre_detail, tracker_event)
    of ``source``'s lines in ``fmt``: built once per process (:func:`jobs.common.spark.built_once`)."""
    line = F.col("value")
    scope = _Scope(fmt, line, tracker)
    key = F.coalesce(*[scope.text(s) for s in fmt.event_name])
    contract = source_contract(source)

    target = None
    for rule in fmt.events.values():
        cond = key == F.lit(rule.name)
        target = F.when(cond, F.lit(rule.source)) if target is None else target.when(cond, F.lit(rule.source))
    target_source = target if target is not None else F.lit(None).cast("string")

    # One CASE per detak field, over the tracker events that set it (events with the same spec share a branch).
    members: dict[str, Column] = {}
    mine = [r for r in fmt.events.values() if r.source == source]
    for field in dict.fromkeys(f for r in mine for f in r.fields):
        prop = contract.columns.get(field, {})
        branches: dict[str, list[str]] = {}
        specs: dict[str, Any] = {}
        for r in mine:
            if field in r.fields:
                sig = yaml.safe_dump(r.fields[field], sort_keys=True)
                branches.setdefault(sig, []).append(r.name)
                specs[sig] = r.fields[field]
        expr = None
        for sig, names in branches.items():
            cond = key.isin(names)
            value = scope.json(specs[sig], prop)
            expr = F.when(cond, value) if expr is None else expr.when(cond, value)
        assert expr is not None
        members[field] = expr

    keeper = sharing[0] if sharing else source
    is_line = (F.col("kind") == "line") & F.col("pre_reason").isNull() & (F.trim(line) != F.lit(""))
    if fmt.reader == "tsv":
        width = F.size(F.split(line, "\t", -1))
        readable = width == F.lit(len(fmt.columns))
        bad_record = F.concat(width.cast("string"), F.lit(f" fields, {len(fmt.columns)} expected"))
    else:
        readable = F.coalesce(F.trim(line).startswith("{") & F.json_object_keys(line).isNotNull(), F.lit(False))
        bad_record = F.lit(None).cast("string")
    shared_target = target_source.isin(sharing) if sharing else F.lit(False)
    elsewhere = target_source != F.lit(source)
    # A bad line (unreadable, unmapped, or failing a reason found while the file was read) is kept
    # by the keeper; another sharing source only counts it.
    bad = (F.col("kind") == "line") & (~is_line | ~readable | target_source.isNull())
    reason = (
        F.when(F.col("kind") != "line", F.col("pre_reason"))
        .when(F.lit(source != keeper) & bad, F.lit("other_source"))
        .when(~is_line, F.col("pre_reason"))
        .when(~readable, F.lit("malformed_record") if fmt.reader == "tsv" else F.lit(None))
        .when(target_source.isNull(), F.lit("unmapped_event"))
        .when(elsewhere, F.lit("other_source"))
    )
    detail = (
        F.when(F.col("kind") != "line", F.col("pre_detail"))
        .when(F.lit(source != keeper) & bad, F.lit(f"a line no source maps, quarantined by {keeper}"))
        .when(~is_line, F.col("pre_detail"))
        .when(~readable, bad_record)
        .when(target_source.isNull(), F.concat(F.lit("event "), F.coalesce(key, F.lit("without a name"))))
        .when(elsewhere, F.concat(F.lit("event "), key, F.lit(" belongs to "), target_source))
    )
    # No second copy of a line that another source of the folder keeps whole.
    copy_elsewhere = (F.lit(source != keeper) & bad) | (~bad & elsewhere & shared_target)
    translated = _object(members) if members else F.lit("{}")
    return (
        F.when(is_line & readable & (target_source == F.lit(source)), translated).otherwise(line),
        F.when(F.col("kind") == "line", F.when(copy_elsewhere, F.lit("")).otherwise(line)),
        reason,
        detail,
        F.when(is_line & readable, key),
    )


def _folder(source: str, settings: Settings) -> str:
    return str((settings["ingest"].get("folders") or {}).get(source) or source)
