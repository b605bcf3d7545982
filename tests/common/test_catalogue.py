"""Table contracts are complete, the generated catalogue is current, and the docs hold together."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from jobs.common import catalogue, contracts
from jobs.common.config import REPO_ROOT, load_settings, schemas_dir
from jobs.common.contracts import (
    Column,
    ContractError,
    accepted_values,
    describe_accepted_values,
    register_contracts_dir,
    table,
    table_contracts,
)

#: Every column that holds an enumeration, per table: each must state its accepted values. A new
#: table or enumeration column belongs here (the catalogue and the quality gate then show and check it).
ENUMERATIONS: dict[str, list[str]] = {
    "bronze.clickstream_events": [
        "event_type", "page_type", "timezone", "coupon_result", "login_result", "failure_kind",
    ],
    "bronze.search_events": ["event_type", "page_type", "timezone"],
    "bronze.orders_events": ["event_type", "status", "currency", "timezone"],
    "bronze.quarantine": ["source", "reason"],
    "bronze.ingest_runs": ["source"],
    "silver.events": [
        "source", "event_type", "timezone", "page_type", "channel", "device_type", "bot_reasons",
        "coupon_result", "failure_kind", "login_result",
    ],
    "silver.sessions": ["landing_page_type", "exit_page_type", "channel", "device_type", "timezone"],
    "silver.actor_verdicts": ["actor_type", "reasons"],
    "silver.orders": ["status", "currency", "timezone"],
    "silver.order_status_history": ["status"],
    "silver.reconciliation": ["source"],
    "gold.session_facts": ["landing_page_type", "exit_page_type", "channel", "device_type", "timezone", "visitor_type"],
    "gold.funnel_daily": ["channel", "device_type", "step"],
    "gold.page_transitions_daily": ["from_page_type", "to_page_type"],
    "gold.navigation_paths": ["outcome"],
    "gold.product_pairs_daily": ["kind"],
    "gold.cart_abandonment": ["channel", "device_type", "stage_reached", "outcome", "primary_reason", "reasons"],
    "gold.abandonment_reasons_daily": ["reason", "stage", "channel", "device_type"],
    "gold.abandonment_drivers": ["stage"],
    "quality.validation_results": ["severity"],
}  # fmt: skip

#: Documents another branch adds; links to them are allowed before they land.
PENDING_DOCS: set[str] = set()


def _repo_contracts() -> dict[str, object]:
    root = (schemas_dir() / "tables").resolve()
    return {n: c for n, c in table_contracts().items() if c.source and c.source.resolve().is_relative_to(root)}


def test_every_contract_states_its_grain_in_one_sentence_and_its_key() -> None:
    found = _repo_contracts()
    assert len(found) >= 27
    for name, contract in found.items():
        grain = contract.grain  # type: ignore[attr-defined]
        assert grain.startswith("one row per"), f"{name}: grain should read 'one row per ...', not {grain!r}"
        assert ". " not in grain and "\n" not in grain, f"{name}: grain should be one sentence"
        key, no_key = contract.key, contract.no_key  # type: ignore[attr-defined]
        assert key or len(no_key) > 40, f"{name}: state the key (columns unique together) or why there is none"
        columns = {c.name: c for c in contract.columns}  # type: ignore[attr-defined]
        for col in key:
            assert not columns[col].type.lower().startswith(("array", "map", "struct")), f"{name}: key {col} is nested"


def test_every_enumeration_column_states_its_accepted_values() -> None:
    settings = load_settings("ci", environ={})
    found = _repo_contracts()
    assert set(ENUMERATIONS) <= set(found)
    for name, columns in ENUMERATIONS.items():
        by_name = {c.name: c for c in table(name).columns}
        for col in columns:
            values = accepted_values(by_name[col], settings)
            assert values, f"{name}.{col} is an enumeration: give it accepted_values in its contract"
            assert len(values) == len(set(values))


def test_accepted_values_refer_to_conf_code_and_event_contracts() -> None:
    settings = load_settings("ci", environ={})
    carts = {c.name: c for c in table("gold.cart_abandonment").columns}
    precedence = settings["gold"]["abandonment"]["precedence"]
    assert accepted_values(carts["primary_reason"], settings) == [*precedence, "unknown"]
    assert accepted_values(carts["reasons"], settings) == precedence and carts["reasons"].is_array
    assert describe_accepted_values(carts["primary_reason"]) == "conf `gold.abandonment.precedence` plus `unknown`"
    assert accepted_values(carts["channel"], settings) == [
        "paid_social", "display", "paid_search", "email", "affiliate", "organic_social", "organic_search",
        "referral", "direct", "unknown",
    ]  # fmt: skip
    events = {c.name: c for c in table("silver.events").columns}
    assert accepted_values(events["coupon_result"], settings) == ["accepted", "rejected"]
    assert accepted_values(events["event_type"], settings)[-2:] == ["search", "search_result_click"]
    # One source: a team that adds a funnel step or reorders the reasons changes conf only.
    steps = [{"name": "session", "events": []}, {"name": "wishlist", "events": ["add_to_wishlist"]}]
    other = load_settings(
        "ci",
        environ={},
        overrides={"gold": {"browsing": {"funnel_steps": steps}, "abandonment": {"precedence": ["out_of_stock"]}}},
    )
    step = next(c for c in table("gold.funnel_daily").columns if c.name == "step")
    assert accepted_values(step, other) == ["session", "wishlist"]
    assert accepted_values(carts["primary_reason"], other) == ["out_of_stock", "unknown"]


def test_a_broken_reference_is_a_contract_error(tmp_path: Path) -> None:
    settings = load_settings("ci", environ={})
    with pytest.raises(ContractError, match="not a list"):
        accepted_values(Column("x", "string", True, "x", accepted_values_from={"conf": "gold.nope"}), settings)
    with pytest.raises(ContractError, match="python reference"):
        accepted_values(Column("x", "string", True, "x", accepted_values_from={"python": "jobs.nope:X"}), settings)
    with pytest.raises(ContractError, match="no enumeration"):
        accepted_values(Column("x", "string", True, "x", accepted_values_from={"event": "orders.order_id"}), settings)
    doc = {
        "name": "test.bad_values",
        "path": "test/bad_values",
        "description": "x",
        "grain": "one row per x",
        "columns": [{"name": "x", "type": "string", "description": "x", "accepted_values": {"settings": "a.b"}}],
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    register_contracts_dir(tmp_path)
    try:
        with pytest.raises(ContractError, match="accepted_values needs one of"):
            table_contracts()
    finally:
        contracts._EXTRA_CONTRACT_DIRS.remove(tmp_path.resolve())
        table_contracts.cache_clear()


def test_catalogue_is_current() -> None:
    assert catalogue.is_current(), (
        "docs/tables.md differs from the table contracts: run `detak catalogue` to refresh it"
    )


def test_catalogue_shows_each_table_with_its_columns_and_values() -> None:
    text = catalogue.render()
    for name in _repo_contracts():
        assert f"### `{name}`" in text
    # One row of the catalogue, whole: type, nullability, description and resolved values.
    assert (
        "| `primary_reason` | `string` | yes | First of reasons by the configured precedence, unknown when a left "
        "cart shows no signal; null for converted and emptied carts. | `payment_failure`, `out_of_stock`, "
        "`shipping_cost_shock`, `coupon_rejected`, `price_increase`, `slow_pages`, `browsing_alternatives`, "
        "`no_checkout_started`, `unknown` (from conf `gold.abandonment.precedence` plus `unknown`) |"
    ) in text.splitlines()
    assert "- **Key:** `date`, `reason`, `stage`, `channel`, `device_type`" in text


def test_catalogue_command_says_when_the_file_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.cli import main

    stale = tmp_path / "docs" / "tables.md"
    stale.parent.mkdir()
    stale.write_text("# an old catalogue\n")
    monkeypatch.setattr(catalogue, "catalogue_path", lambda: stale)
    assert main(["catalogue", "--check"]) == 1
    assert stale.read_text() == "# an old catalogue\n"
    assert main(["catalogue"]) == 0
    assert stale.read_text() == catalogue.render()
    assert main(["catalogue", "--check"]) == 0


def test_readme_is_an_entrance_and_every_doc_link_resolves() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme) <= 12_000, f"README.md has {len(readme)} characters: move reference material to docs/"
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path = (page.parent / target).resolve()
            relative = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)
            assert path.exists() or relative in PENDING_DOCS, f"{page.relative_to(REPO_ROOT)} links to missing {target}"
