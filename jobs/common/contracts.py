"""Event and table contracts, read from ``schemas/`` and turned into Spark schemas and checks.

Event contracts are JSON Schema (draft 2020-12), one file per source and event type, sharing
``envelope.schema.json`` (every event) and ``collector.schema.json`` (clickstream and search).
Table contracts are YAML in ``schemas/tables/``. Nothing here types a column a second time: the
Spark ``StructType`` of a bronze table is the union of its source's event-type properties.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import types as T

from jobs.common.config import Settings, schemas_dir

JSON_TO_SPARK: dict[str, T.DataType] = {
    "string": T.StringType(),
    "integer": T.LongType(),
    "number": T.DoubleType(),
    "boolean": T.BooleanType(),
}


class ContractError(ValueError):
    """A contract file is inconsistent (conflicting types, unknown keywords we rely on)."""


def events_dir() -> Path:
    return schemas_dir() / "events"


def event_sources() -> list[str]:
    """Sources that have event contracts, e.g. ``["clickstream", "orders", "search"]``."""
    return sorted(p.name for p in events_dir().iterdir() if p.is_dir())


def event_types(source: str) -> list[str]:
    """Event types of ``source``, sorted."""
    folder = events_dir() / source
    if not folder.is_dir():
        raise ContractError(f"no event contracts for source {source!r} in {events_dir()}")
    return sorted(p.name.removesuffix(".schema.json") for p in folder.glob("*.schema.json"))


@cache
def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def event_schema_path(source: str, event_type: str) -> Path:
    return events_dir() / source / f"{event_type}.schema.json"


def _resolve(path: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Properties and required fields of a schema file with its ``allOf`` ``$ref``s merged in."""
    doc = _load(path)
    props: dict[str, dict[str, Any]] = {}
    required: list[str] = []
    for part in doc.get("allOf", []):
        ref = part.get("$ref")
        if ref is None:
            raise ContractError(f"{path}: only allOf of $ref is supported")
        base_props, base_required = _resolve((path.parent / ref).resolve())
        props.update(base_props)
        required += [r for r in base_required if r not in required]
    for name, prop in doc.get("properties", {}).items():
        # An event type narrows an envelope field (event_type: const) without retyping it.
        props[name] = {**props.get(name, {}), **prop}
    required += [r for r in doc.get("required", []) if r not in required]
    return props, required


def _json_types(prop: dict[str, Any]) -> list[str]:
    if "const" in prop and "type" not in prop:
        return ["string"]
    kind = prop.get("type", "string")
    return [kind] if isinstance(kind, str) else list(kind)


def spark_type(prop: dict[str, Any]) -> T.DataType:
    """The Spark type of one JSON Schema property."""
    kinds = [k for k in _json_types(prop) if k != "null"]
    if len(kinds) != 1:
        raise ContractError(f"property needs exactly one non-null type, got {kinds}")
    kind = kinds[0]
    if kind == "string" and prop.get("format") == "date-time":
        return T.TimestampType()
    if kind in JSON_TO_SPARK:
        return JSON_TO_SPARK[kind]
    if kind == "array":
        return T.ArrayType(spark_type(prop["items"]), containsNull=True)
    if kind == "object":
        if "properties" in prop:
            return T.StructType([T.StructField(n, spark_type(p), True) for n, p in prop["properties"].items()])
        return T.MapType(T.StringType(), spark_type(prop.get("additionalProperties", {})), True)
    raise ContractError(f"unsupported JSON type {kind!r}")


def is_nullable(prop: dict[str, Any]) -> bool:
    return "null" in _json_types(prop)


@dataclass(frozen=True)
class EventType:
    source: str
    name: str
    description: str
    properties: dict[str, dict[str, Any]]
    required: list[str]


@dataclass(frozen=True)
class SourceContract:
    """Everything the bronze ingester needs to know about one source."""

    source: str
    event_types: dict[str, EventType]
    columns: dict[str, dict[str, Any]] = field(repr=False)

    @property
    def spark_schema(self) -> T.StructType:
        """Every property of every event type of the source, all nullable (validation is separate)."""
        return T.StructType(
            [
                T.StructField(name, spark_type(prop), True, {"comment": prop.get("description", "")})
                for name, prop in self.columns.items()
            ]
        )


def _base_signature(prop: dict[str, Any]) -> str:
    return spark_type(prop).simpleString()


@cache
def source_contract(source: str) -> SourceContract:
    """Read and merge the contracts of every event type of ``source``."""
    types: dict[str, EventType] = {}
    columns: dict[str, dict[str, Any]] = {}
    envelope_props, _ = _resolve(events_dir() / "envelope.schema.json")
    for name in envelope_props:  # envelope first, in its file's order
        columns[name] = envelope_props[name]
    for et in event_types(source):
        path = event_schema_path(source, et)
        props, required = _resolve(path)
        types[et] = EventType(source, et, _load(path).get("description", ""), props, required)
        for col, prop in props.items():
            if col == "event_type":
                continue
            if col in columns and _base_signature(columns[col]) != _base_signature(prop):
                raise ContractError(
                    f"{source}: column {col!r} is {_base_signature(columns[col])} in one event type "
                    f"and {_base_signature(prop)} in {et}"
                )
            if col not in columns:
                columns[col] = prop
    for col, prop in columns.items():
        if not prop.get("description"):
            raise ContractError(f"{source}: column {col!r} has no description")
    return SourceContract(source, types, columns)


def json_validator(source: str, event_type: str) -> Any:
    """A ``jsonschema`` validator for one event type, with the shared envelopes resolvable."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = [
        (doc["$id"], Resource.from_contents(doc))
        for doc in (_load(p) for p in sorted(events_dir().rglob("*.schema.json")))
    ]
    registry: Registry = Registry().with_resources(resources)
    schema = _load(event_schema_path(source, event_type))
    return Draft202012Validator(schema, registry=registry, format_checker=_format_checker())


def _format_checker() -> Any:
    """jsonschema's format checker, with ``date-time`` asserted as bronze does.

    jsonschema checks ``date-time`` only when the optional ``rfc3339-validator`` is installed and
    passes anything otherwise; Python's ISO 8601 parser with a required UTC offset is the same rule.
    """
    from jsonschema import Draft202012Validator, FormatChecker

    checker: FormatChecker = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return datetime.fromisoformat(value).tzinfo is not None

    return checker


# ---------------------------------------------------------------------------------------------
# Table contracts


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str
    #: Optional quality defaults (expectations are generated from them): the only values allowed,
    #: an inclusive range, whether the column holds keyed pseudonyms, and the severity of the
    #: value checks ("critical" blocks publishing, "warning" reports).
    accepted_values: list[Any] | None = None
    min: Any = None
    max: Any = None
    pseudonym: bool = False
    severity: str | None = None
    #: Accepted values another file already states (one source per fact), as the contract wrote
    #: them: ``{conf: dotted.key, field: name}``, ``{python: module:NAME}``, ``{event: source.field}``
    #: (each may be a list), plus ``extra: [...]``. :func:`accepted_values` resolves them.
    accepted_values_from: dict[str, Any] | None = None

    @property
    def is_array(self) -> bool:
        """True for an ``array<...>`` column: its accepted values apply to every item."""
        return isinstance(parse_type(self.type), T.ArrayType)


@dataclass(frozen=True)
class TableContract:
    name: str
    description: str
    grain: str
    path: str
    partition_by: list[str]
    columns: list[Column]
    #: Columns OPTIMIZE clusters the files by (Z-order), for data skipping on them; optional.
    zorder_by: list[str] = field(default_factory=list)
    #: The grain as columns (unique and not null together); optional, empty when not stated.
    key: list[str] = field(default_factory=list)
    #: The contract file, so that files next to it (``<table>.checks.yaml``) can be found.
    source: Path | None = None
    #: Delta table properties set when the table is created (e.g. the change data feed).
    properties: dict[str, str] = field(default_factory=dict)
    #: Who reads the table (for the catalogue); optional.
    used_by: str = ""
    #: Why the table has no key, when no set of columns is unique (``key: []`` then).
    no_key: str = ""

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def checks_path(self) -> Path | None:
        """``<table>.checks.yaml`` next to the contract file, when there is one."""
        if self.source is None:
            return None
        candidate = self.source.with_name(self.source.name.removesuffix(".yaml") + ".checks.yaml")
        return candidate if candidate.exists() else None

    @property
    def spark_schema(self) -> T.StructType:
        return T.StructType(
            [T.StructField(c.name, parse_type(c.type), c.nullable, {"comment": c.description}) for c in self.columns]
        )


def _split_top(text: str, sep: str = ",") -> Iterator[str]:
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == sep and depth == 0:
            yield text[start:i].strip()
            start = i + 1
    yield text[start:].strip()


_SIMPLE: dict[str, T.DataType] = {
    "string": T.StringType(),
    "long": T.LongType(),
    "bigint": T.LongType(),
    "int": T.IntegerType(),
    "integer": T.IntegerType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampType(),
    "timestamp_ntz": T.TimestampNTZType(),
    "date": T.DateType(),
}


def parse_type(text: str) -> T.DataType:
    """Parse the small DDL type language of table contracts: simple types, array, map, struct."""
    text = text.strip()
    low = text.lower()
    if low in _SIMPLE:
        return _SIMPLE[low]
    if low.startswith("array<") and low.endswith(">"):
        return T.ArrayType(parse_type(text[6:-1]), True)
    if low.startswith("map<") and low.endswith(">"):
        key, value = list(_split_top(text[4:-1]))
        return T.MapType(parse_type(key), parse_type(value), True)
    if low.startswith("struct<") and low.endswith(">"):
        fields = []
        for part in _split_top(text[7:-1]):
            name, _, kind = part.partition(":")
            fields.append(T.StructField(name.strip(), parse_type(kind), True))
        return T.StructType(fields)
    raise ContractError(f"unknown type {text!r}")


#: Keys of the mapping form of ``accepted_values`` (see :class:`Column`).
VALUE_SOURCES = ("conf", "python", "event")


def _accepted(name: str, spec: Any) -> tuple[list[Any] | None, dict[str, Any] | None]:
    """A column's ``accepted_values`` as (literal values, reference), checked for form only."""
    if spec is None:
        return None, None
    if isinstance(spec, list):
        return list(spec), None
    if not isinstance(spec, dict):
        raise ContractError(f"column {name!r}: accepted_values must be a list or a mapping, not {spec!r}")
    unknown = set(spec) - {*VALUE_SOURCES, "field", "extra"}
    if unknown or not set(spec) & set(VALUE_SOURCES):
        raise ContractError(
            f"column {name!r}: accepted_values needs one of {list(VALUE_SOURCES)} (with optional field, extra); "
            f"unknown keys {sorted(unknown)}"
        )
    return None, dict(spec)


def _columns(spec: list[dict[str, Any]]) -> list[Column]:
    cols = []
    for c in spec:
        if not c.get("description"):
            raise ContractError(f"column {c.get('name')!r} has no description")
        values, values_from = _accepted(c.get("name", "?"), c.get("accepted_values"))
        cols.append(
            Column(
                c["name"],
                c["type"],
                bool(c.get("nullable", True)),
                c["description"],
                accepted_values=values,
                min=c.get("min"),
                max=c.get("max"),
                pseudonym=bool(c.get("pseudonym", False)),
                severity=c.get("severity"),
                accepted_values_from=values_from,
            )
        )
    return cols


def _enum(prop: dict[str, Any]) -> list[Any] | None:
    """The values a JSON Schema property (or its items) allows, without null; None when open."""
    values = prop.get("enum", (prop.get("items") or {}).get("enum"))
    return None if values is None else [v for v in values if v is not None]


def _event_columns(source: str) -> list[Column]:
    """Bronze columns of a source: its event properties, enumerations as their accepted values."""
    contract = source_contract(source)
    return [
        Column(
            name,
            spark_type(prop).simpleString(),
            True,
            prop["description"],
            accepted_values_from={"event": f"{source}.{name}"} if name == "event_type" or _enum(prop) else None,
        )
        for name, prop in contract.columns.items()
    ]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _event_values(ref: str) -> list[Any]:
    """``source.field``: the source's event types for ``event_type``, else the field's enumeration."""
    source, _, name = ref.partition(".")
    if name == "event_type":
        return event_types(source)
    prop = source_contract(source).columns.get(name)
    values = None if prop is None else _enum(prop)
    if values is None:
        raise ContractError(f"event reference {ref!r}: no enumeration of {name!r} in the {source} contracts")
    return values


def _python_values(ref: str) -> list[Any]:
    """``module:NAME``: a constant of the code (a tuple or list of values)."""
    module, _, attr = ref.partition(":")
    try:
        return list(getattr(importlib.import_module(module), attr))
    except (ImportError, AttributeError, TypeError) as exc:
        raise ContractError(f"python reference {ref!r}: {exc}") from None


def _conf_values(ref: str, field_name: str | None, settings: Settings) -> list[Any]:
    """``dotted.key``: a list of the settings (of ``field`` of each item when they are mappings)."""
    node = settings.get(ref)
    if not isinstance(node, list):
        raise ContractError(f"conf reference {ref!r} is not a list in the settings")
    if field_name is None:
        return list(node)
    return [item[field_name] for item in node]


def accepted_values(column: Column, settings: Settings) -> list[Any] | None:
    """The values ``column`` accepts (for an array column, each item), or None when any value goes.

    Literal lists are returned as written; a reference is read from where the fact lives: conf
    (these settings), a constant of the code or an event contract's enumeration, then ``extra``
    is appended. Order is kept and repeats are dropped.
    """
    if column.accepted_values is not None:
        return list(column.accepted_values)
    spec = column.accepted_values_from
    if spec is None:
        return None
    values: list[Any] = []
    for ref in _as_list(spec.get("conf", [])):
        values += _conf_values(str(ref), spec.get("field"), settings)
    for ref in _as_list(spec.get("python", [])):
        values += _python_values(str(ref))
    for ref in _as_list(spec.get("event", [])):
        values += _event_values(str(ref))
    values += _as_list(spec.get("extra", []))
    return list(dict.fromkeys(values))


def describe_accepted_values(column: Column) -> str | None:
    """Where a column's accepted values come from, for people: "conf `gold.abandonment.precedence` plus `unknown`"."""
    spec = column.accepted_values_from
    if spec is None:
        return None
    field_name = f" ({spec['field']} of each)" if spec.get("field") else ""
    parts = [f"conf `{r}`{field_name}" for r in _as_list(spec.get("conf", []))]
    parts += [f"code `{r}`" for r in _as_list(spec.get("python", []))]
    parts += [f"event contract `{r}`" for r in _as_list(spec.get("event", []))]
    extra = _as_list(spec.get("extra", []))
    return ", ".join(parts) + (" plus " + ", ".join(f"`{v}`" for v in extra) if extra else "")


def _check_zorder(contract: TableContract) -> None:
    names = {c.name for c in contract.columns}
    for col in contract.zorder_by:
        if col not in names:
            raise ContractError(f"{contract.name}: zorder_by column {col!r} is not a column of the table")
        if col in contract.partition_by:
            # Delta refuses to Z-order by a partition column: files never mix its values anyway.
            raise ContractError(f"{contract.name}: zorder_by column {col!r} is a partition column")


#: Further folders of table contracts (tests register their own); searched after ``schemas/tables``.
_EXTRA_CONTRACT_DIRS: list[Path] = []


def register_contracts_dir(folder: Path) -> None:
    """Also read table contracts from ``folder`` (idempotent); clears the contract cache."""
    folder = Path(folder).resolve()
    if folder not in _EXTRA_CONTRACT_DIRS:
        _EXTRA_CONTRACT_DIRS.append(folder)
    table_contracts.cache_clear()


def _contract_files() -> list[Path]:
    files: list[Path] = []
    for folder in [schemas_dir() / "tables", *_EXTRA_CONTRACT_DIRS]:
        # Files named <table>.checks.yaml beside a contract are its quality checks, not contracts.
        files += [p for p in sorted(folder.rglob("*.yaml")) if not p.name.endswith(".checks.yaml")]
    return files


def _check_key(contract: TableContract) -> None:
    if contract.key and contract.no_key:
        raise ContractError(f"{contract.name}: a contract states either key or no_key, not both")
    names = {c.name for c in contract.columns}
    for col in contract.key:
        if col not in names:
            raise ContractError(f"{contract.name}: key column {col!r} is not a column of the table")


@cache
def table_contracts() -> dict[str, TableContract]:
    """Every table contract under ``schemas/tables``, keyed by ``layer.table``.

    A contract with ``for_each_source: true`` is a template expanded once per event source,
    with the source's event columns (from the JSON Schemas) before its own columns.
    """
    out: dict[str, TableContract] = {}
    for path in _contract_files():
        doc = yaml.safe_load(path.read_text())
        sources = event_sources() if doc.get("for_each_source") else [None]
        for source in sources:

            def fill(text: str, src: str | None = source) -> str:
                return text.replace("{source}", src) if src else text

            cols = (_event_columns(source) if source else []) + _columns(doc["columns"])
            contract = TableContract(
                name=fill(doc["name"]),
                description=fill(doc["description"]).strip(),
                grain=fill(doc["grain"]).strip(),
                path=fill(doc["path"]),
                partition_by=list(doc.get("partition_by", [])),
                columns=cols,
                zorder_by=list(doc.get("zorder_by", [])),
                key=list(doc.get("key", [])),
                source=path,
                properties={
                    str(k): str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in (doc.get("properties") or {}).items()
                },
                used_by=fill(str(doc.get("used_by", ""))).strip(),
                no_key=" ".join(str(doc.get("no_key", "")).split()),
            )
            _check_zorder(contract)
            _check_key(contract)
            if contract.name in out:
                raise ContractError(f"table {contract.name} is declared twice")
            out[contract.name] = contract
    return out


def table(name: str) -> TableContract:
    try:
        return table_contracts()[name]
    except KeyError:
        raise ContractError(f"no contract for table {name!r}") from None
