"""The table catalogue, ``docs/tables.md``, generated from the table contracts in ``schemas/tables/``.

Every table's layer, grain, key, partitioning, description, who reads it, its table-specific checks
and, per column, type, nullability, description and accepted values (references to conf, code or
event contracts resolved with the defaults of ``conf/``, and named). ``detak catalogue`` rewrites
the file; ``detak catalogue --check`` (and a test) fails when the committed file is stale, so the
catalogue cannot drift from the contracts the jobs and the quality gate use.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from jobs.common.config import REPO_ROOT, Settings, load_settings, schemas_dir
from jobs.common.contracts import (
    Column,
    TableContract,
    accepted_values,
    describe_accepted_values,
    table_contracts,
)

#: Layers in the order data flows through them; any other layer follows, alphabetically.
LAYER_ORDER = ("bronze", "silver", "gold", "features", "quality", "maintenance")
REFRESH = "run `detak catalogue` to refresh it"


def catalogue_path() -> Path:
    return REPO_ROOT / "docs" / "tables.md"


def _cell(text: Any) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _codes(values: Sequence[Any]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _relative(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def _anchor(name: str) -> str:
    """GitHub's anchor of a heading that is the table name in backticks."""
    return name.replace(".", "").lower()


def _layer_key(layer: str) -> tuple[int, str]:
    return (LAYER_ORDER.index(layer) if layer in LAYER_ORDER else len(LAYER_ORDER), layer)


def _contracts() -> list[TableContract]:
    """The repository's contracts (not the folders tests register), by layer, then name."""
    root = (schemas_dir() / "tables").resolve()
    mine = [c for c in table_contracts().values() if c.source is not None and c.source.resolve().is_relative_to(root)]
    return sorted(mine, key=lambda c: (_layer_key(c.layer), c.name))


def _is_pseudonym(column: Column, contract: TableContract, settings: Settings) -> bool:
    """Marked in the contract, or named in ``quality.pseudonym_columns`` in a layer that holds pseudonyms."""
    quality = settings.get("quality", {}) or {}
    by_name = column.name in quality.get("pseudonym_columns", []) and contract.layer in quality.get(
        "pseudonym_layers", []
    )
    return column.pseudonym or by_name


def _values(column: Column, settings: Settings, pseudonym: bool = False) -> str:
    parts = []
    values = accepted_values(column, settings)
    if values is not None:
        text = _codes(values)
        origin = describe_accepted_values(column)
        parts.append(f"{text} (from {origin})" if origin else text)
        if column.is_array:
            parts[-1] = "each item: " + parts[-1]
    if column.min is not None and column.max is not None:
        parts.append(f"{column.min} to {column.max}")
    elif column.min is not None:
        parts.append(f"≥ {column.min}")
    elif column.max is not None:
        parts.append(f"≤ {column.max}")
    if pseudonym:
        parts.append("keyed pseudonym (64 hex characters)")
    return "; ".join(parts)


def _checks(contract: TableContract) -> list[str]:
    path = contract.checks_path
    if path is None:
        return []
    doc = yaml.safe_load(path.read_text()) or {}
    lines = []
    for spec in doc.get("checks", []):
        name = spec.get("name") or spec.get("type")
        what = spec.get("description") or spec.get("condition") or spec.get("type")
        lines.append(f"  - `{name}` ({spec.get('type')}, {spec.get('severity', 'critical')}): {_cell(what)}")
    return lines


def _table_section(contract: TableContract, settings: Settings) -> list[str]:
    out = [f"### `{contract.name}`", "", " ".join(contract.description.split()), ""]
    out.append(f"- **Grain:** {contract.grain}")
    out.append(f"- **Key:** {_codes(contract.key) if contract.key else 'none. ' + contract.no_key}")
    out.append(
        f"- **Partitioned by:** {_codes(contract.partition_by) if contract.partition_by else '(not partitioned)'}"
    )
    if contract.zorder_by:
        out.append(f"- **Z-ordered by:** {_codes(contract.zorder_by)}")
    if contract.used_by:
        out.append(f"- **Used by:** {contract.used_by}")
    source = _relative(contract.source)
    out.append(f"- **Contract:** [`{source}`](../{source})")
    checks = _checks(contract)
    if checks:
        path = _relative(contract.checks_path)
        out.append(f"- **Table-specific checks** ([`{path}`](../{path})):")
        out += checks
    out += ["", "| column | type | nullable | description | accepted values |", "|---|---|---|---|---|"]
    for col in contract.columns:
        nullable = "yes" if col.nullable else "no"
        values = _values(col, settings, _is_pseudonym(col, contract, settings))
        out.append(f"| `{col.name}` | `{_cell(col.type)}` | {nullable} | {_cell(col.description)} | {values} |")
    return [*out, ""]


def render(settings: Settings | None = None) -> str:
    """The whole catalogue as Markdown (stable: the same contracts and conf give the same text)."""
    # The defaults of conf/ alone: neither the caller's environment nor DETAK__* variables.
    settings = settings or load_settings("local", environ={})
    contracts = _contracts()
    lines = [
        "# Table catalogue",
        "",
        "<!-- GENERATED by `detak catalogue` from schemas/tables/: do not edit; change the contracts and "
        "run `detak catalogue`. -->",
        "",
        "Every lake table, generated from its contract in `schemas/tables/<layer>/<table>.yaml` (and the",
        "`<table>.checks.yaml` beside it). The key is the set of columns that are unique together; the",
        "quality gate checks it (unique and not null), the nullability, the accepted values and the",
        "table-specific checks of every gated table ([quality.md](quality.md)). Accepted values that refer",
        "to the configuration are shown with the defaults of `conf/`. Gold and feature tables are published",
        "to the warehouse under the same names ([warehouse.md](warehouse.md)). Column descriptions are also",
        "stored as Delta column comments and, in the warehouse, as `COMMENT ON` each column.",
        "",
        "| layer | table | grain | key | partitioned by |",
        "|---|---|---|---|---|",
    ]
    for c in contracts:
        lines.append(
            f"| {c.layer} | [`{c.name}`](#{_anchor(c.name)}) | {_cell(c.grain)} | {_codes(c.key) or 'none'} | "
            f"{_codes(c.partition_by)} |"
        )
    lines.append("")
    layer = None
    for c in contracts:
        if c.layer != layer:
            layer = c.layer
            lines += [f"## {layer}", ""]
        lines += _table_section(c, settings)
    return "\n".join(lines).rstrip() + "\n"


def write(path: Path | None = None) -> Path:
    """(Re)write the catalogue file."""
    path = path or catalogue_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path


def is_current(path: Path | None = None) -> bool:
    """True when the catalogue file holds exactly what the contracts give."""
    path = path or catalogue_path()
    return path.exists() and path.read_text() == render()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="detak catalogue", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/tables.md is stale; write nothing")
    args = parser.parse_args(argv)
    path = catalogue_path()
    if args.check:
        if is_current(path):
            print(f"{_relative(path)} is up to date")
            return 0
        print(f"{_relative(path)} differs from the table contracts: {REFRESH}")
        return 1
    write(path)
    print(f"wrote {_relative(path)} ({len(_contracts())} tables)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
