"""Quality gate: suites from contracts and checks files, Great Expectations runs at a Delta version."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import ContractError, table
from jobs.common.tables import read_table
from jobs.quality.gate import QualityGateError, gate, validated_table
from jobs.quality.suites import CRITICAL, WARNING, custom_check, table_checks
from tests.conftest import ci_settings
from tests.quality.helpers import ALERTS, FUNNEL, extra_contracts, funnel_rows, write_funnel

GOOD_DAY = date(2026, 11, 10)
BAD_DAY = date(2026, 11, 11)


def settings_for(home: Path):  # type: ignore[no-untyped-def]
    return ci_settings(home, quality={"alert_callback": "tests.quality.helpers.record_alert"})


def test_contract_defaults_and_checks_file(tmp_path: Path) -> None:
    with extra_contracts():
        checks = {c.name: c.severity for c in table_checks(table(FUNNEL), settings_for(tmp_path))}
    assert checks["key_unique(date, channel, device_type, region, top_category, step)"] == CRITICAL
    # channel is nullable in the test contract but part of the key: the key is never null.
    assert checks["not_null(channel)"] == CRITICAL
    assert checks["type(sessions)"] == CRITICAL
    assert checks["accepted_values(device_type)"] == CRITICAL
    assert checks["range(sessions)"] == CRITICAL
    assert checks["range(revenue)"] == WARNING  # the column says severity: warning
    assert checks["funnel_non_increasing"] == CRITICAL
    assert checks["purchase_revenue_matches_orders"] == WARNING
    assert checks["not_empty"] == WARNING


def test_key_and_pseudonym_checks_follow_the_contract(tmp_path: Path) -> None:
    checks = [c.name for c in table_checks(table("silver.reconciliation"), settings_for(tmp_path))]
    assert "key_unique(event_date, source)" in checks
    # The quarantine's key is where each rejected line was delivered (identical lines stay apart).
    quarantine = [c.name for c in table_checks(table("bronze.quarantine"), settings_for(tmp_path))]
    assert [n for n in quarantine if n.startswith("key_unique")] == ["key_unique(_source_file, _line)"]
    # Bronze keeps raw ids by design: no pseudonym check there; silver has them.
    assert not [
        n for n in table_checks(table("bronze.clickstream_events"), settings_for(tmp_path)) if "pseudonym" in n.name
    ]
    assert "pseudonym(user_id)" in [c.name for c in table_checks(table("silver.sessions"), settings_for(tmp_path))]


def test_unknown_check_type_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="unknown type"):
        custom_check({"name": "x", "type": "nope"}, table("silver.sessions"))


def test_gate_blocks_a_corrupted_day_and_passes_a_good_one(spark: SparkSession, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    ALERTS.clear()
    with extra_contracts():
        write_funnel(spark, funnel_rows(GOOD_DAY, [100, 60, 20, 5]), GOOD_DAY, settings)
        bad = (
            funnel_rows(BAD_DAY, [100, 60, 70, 5])  # the funnel rises at add_to_cart
            + funnel_rows(BAD_DAY, [10, 5, 2, 1], channel=None)  # a null key column
            + funnel_rows(BAD_DAY, [10, 5, 2, 1], device="tablet")[:1] * 2  # a duplicated key
        )
        write_funnel(spark, bad, BAD_DAY, settings)
        result = gate(spark, FUNNEL, [GOOD_DAY, BAD_DAY], settings)

        assert not result.passed
        failed = {(o.date, o.expectation) for o in result.failed_critical}
        assert failed == {
            (BAD_DAY, "funnel_non_increasing"),
            (BAD_DAY, "not_null(channel)"),
            (BAD_DAY, "key_unique(date, channel, device_type, region, top_category, step)"),
        }
        # The revenue check against silver.orders (empty here) is a warning: reported, not blocking.
        assert {(o.date, o.expectation) for o in result.warnings} == {
            (GOOD_DAY, "purchase_revenue_matches_orders"),
            (BAD_DAY, "purchase_revenue_matches_orders"),
        }
        with pytest.raises(QualityGateError, match="funnel_non_increasing"):
            result.raise_if_failed()

        stored = read_table(spark, "quality.validation_results", settings)
        assert stored.count() == len(result.outcomes)
        rising = stored.where(F.col("expectation") == "funnel_non_increasing").orderBy("date").collect()
        assert [(r["date"], r["success"], r["severity"], r["delta_version"]) for r in rising] == [
            (GOOD_DAY, True, CRITICAL, 2),
            (BAD_DAY, False, CRITICAL, 2),
        ]
        assert rising[1]["observed_value"] == "1"  # one row where sessions rose

        assert len(ALERTS) == 1 and ALERTS[0]["table"] == FUNNEL
        assert {f["expectation"] for f in ALERTS[0]["failed"]} >= {"funnel_non_increasing"}

        # The good day alone passes, validated at the version asked for.
        alone = gate(spark, FUNNEL, [GOOD_DAY], settings, version=1)
        assert alone.passed and alone.delta_version == 1

    index = tmp_path / "home" / "quality" / "data_docs" / "index.html"
    assert index.exists()
    assert result.data_docs == index.as_uri()
    _check_docs_in_browser(index)


def test_dates_validated_at_once_give_the_outcomes_of_each_date_alone(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch of several dates records, per date, exactly what validating each date alone does."""
    import jobs.quality.gate as quality_gate

    settings = settings_for(tmp_path / "home")
    first, empty, last = date(2026, 11, 8), date(2026, 11, 9), date(2026, 11, 10)
    with extra_contracts():
        # No purchases: revenue 0 matches the (empty) silver.orders, so every check passes.
        write_funnel(spark, funnel_rows(first, [100, 60, 20, 0]), first, settings)
        write_funnel(spark, funnel_rows(last, [90, 50, 10, 0], device="desktop"), last, settings)
        at_once = gate(spark, FUNNEL, [first, empty, last], settings, data_docs=False)
        monkeypatch.setattr(quality_gate, "_gate_dates_at_once", lambda *args, **kwargs: False)
        alone = gate(spark, FUNNEL, [first, empty, last], settings, data_docs=False)

    def outcomes(result: quality_gate.GateResult) -> list[tuple]:
        return sorted(
            (o.date, o.expectation, o.expectation_type, o.severity, o.success, o.rows) for o in result.outcomes
        )

    assert len(at_once.validation_ids) == 1 and len(alone.validation_ids) == 3
    assert outcomes(at_once) == outcomes(alone)
    # The date without rows is a not_empty warning either way, and the only one.
    assert [(o.date, o.expectation) for o in at_once.warnings] == [(empty, "not_empty")]
    assert at_once.passed and alone.passed


def test_checks_without_a_form_for_several_dates_fall_back_to_each_date(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with extra_contracts():
        window = table_checks(table(FUNNEL), settings, over_dates=True)
    assert window is not None
    by_name = {c.name: c for c in window}
    assert "not_empty" not in by_name  # counted per date by the gate
    contract = table("gold.session_facts")
    # A key without the date is made unique per date.
    key = by_name.get("key_unique(date, channel, device_type, region, top_category, step)")
    assert key is not None
    session_key = {c.name: c for c in table_checks(contract, settings, over_dates=True) or []}["key_unique(session_id)"]
    assert session_key.expectation.column_list == ["session_date", "session_id"]  # type: ignore[attr-defined]
    # A raw query, a built-in, a funnel order across dates, or an unpartitioned table: no such form.
    for spec in (
        {"name": "q", "type": "sql", "query": "SELECT * FROM {batch} WHERE sessions < 0"},
        {"name": "b", "type": "expectation", "expectation": "expect_table_row_count_to_be_between", "kwargs": {}},
        {"name": "n", "type": "non_increasing", "column": "sessions", "order_by": "step_index", "partition_by": []},
    ):
        assert custom_check(spec, contract, over_dates=True) is None
    # A raw query that says it already works date by date runs as written over several dates.
    per_date = {"name": "p", "type": "sql", "query": "SELECT session_date FROM {batch} GROUP BY 1 HAVING count(*) < 0"}
    grouped = custom_check({**per_date, "per_date": True}, contract, over_dates=True)
    assert grouped is not None
    assert grouped.expectation.unexpected_rows_query == per_date["query"]  # type: ignore[attr-defined]
    assert table_checks(table("silver.identity_map"), settings, over_dates=True) is None


def test_grouped_checks_find_the_failing_date_in_a_batch_of_several(spark: SparkSession) -> None:
    """The several-date forms of aggregate and freshness checks are per date."""
    recon = table("silver.reconciliation")
    d1, d2 = date(2026, 11, 10), date(2026, 11, 11)
    rows = [(d1, "clickstream", 10, 10, 0, 0), (d2, "clickstream", 10, 5, 5, 0), (d2, "search", 100, 100, 0, 0)]
    schema = "event_date date, source string, bronze_rows long, silver_rows long, duplicates long, too_late long"
    spark.createDataFrame(rows, schema).createOrReplaceTempView("tiny_batch")
    share = {"name": "s", "type": "aggregate_between", "expression": "sum(duplicates) / sum(bronze_rows)", "max": 0.3}
    check = custom_check(share, recon, over_dates=True)
    assert check is not None
    query = check.expectation.unexpected_rows_query.format(batch="tiny_batch")  # type: ignore[attr-defined]
    assert spark.sql(query).collect() == []
    # Over both dates the share is 5/120 = 0.042, under 0.044; Nov 11 alone has 5/110 = 0.045.
    tight = custom_check({**share, "max": 0.044}, recon, over_dates=True)
    assert tight is not None
    query = tight.expectation.unexpected_rows_query.format(batch="tiny_batch")  # type: ignore[attr-defined]
    assert [tuple(r) for r in spark.sql(query).collect()] == [(d2, 5 / 110)]


def test_validated_table_holds_each_date_as_the_gate_passed_it(spark: SparkSession, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    never = date(2026, 11, 12)
    with extra_contracts():
        good = funnel_rows(GOOD_DAY, [100, 60, 20, 0])
        write_funnel(spark, good, GOOD_DAY, settings)  # v1
        write_funnel(spark, funnel_rows(BAD_DAY, [50, 30, 10, 0]), BAD_DAY, settings)  # v2
        assert gate(spark, FUNNEL, [GOOD_DAY, BAD_DAY], settings).passed  # both pass at v2
        # A rewrite of the good day that the gate blocks, and a day it never saw.
        write_funnel(spark, funnel_rows(GOOD_DAY, [10, 60, 20, 0]), GOOD_DAY, settings)  # v3
        assert not gate(spark, FUNNEL, [GOOD_DAY], settings).passed
        write_funnel(spark, funnel_rows(never, [9, 8, 7, 0]), never, settings)  # v4
        validated = validated_table(spark, FUNNEL, settings)
        expected = funnel_rows(GOOD_DAY, [100, 60, 20, 0]) + funnel_rows(BAD_DAY, [50, 30, 10, 0])
        assertDataFrameEqual(validated, spark.createDataFrame(expected, validated.schema), checkRowOrder=False)


def _check_docs_in_browser(index: Path) -> None:
    """A headless Chromium opens the Data Docs and finds the suite of the table."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            index.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert FUNNEL in dom
    assert "Expectation Suites" in dom or "expectations/" in dom


def _violations(spark: SparkSession, spec: dict, rows: list[tuple], schema: str) -> list[tuple]:
    """Rows a custom check's query finds on a tiny batch (the query GE runs, without GE)."""
    check = custom_check(spec, table("silver.reconciliation"))
    spark.createDataFrame(rows, schema).createOrReplaceTempView("tiny_batch")
    query = check.expectation.unexpected_rows_query.format(batch="tiny_batch")  # type: ignore[attr-defined]
    return [tuple(r) for r in spark.sql(query).collect()]


def test_custom_check_queries(spark: SparkSession) -> None:
    recon = "event_date date, source string, bronze_rows long, silver_rows long, duplicates long, too_late long"
    d = date(2026, 11, 10)
    rows = [(d, "clickstream", 10, 7, 2, 1), (d, "search", 5, 5, 1, 0)]
    condition = {"type": "row_condition", "condition": "bronze_rows = silver_rows + duplicates + too_late"}
    assert _violations(spark, condition, rows, recon) == [(d, "search", 5, 5, 1, 0)]

    funnel = "g string, step_index int, sessions long"
    steps = [("a", 0, 10), ("a", 1, 12), ("a", 2, 3), ("b", 0, 5), ("b", 1, 5)]
    rising = {"type": "non_increasing", "column": "sessions", "order_by": "step_index", "partition_by": ["g"]}
    assert _violations(spark, rising, steps, funnel) == [("a", 1, 12, 10)]

    share = {"type": "aggregate_between", "expression": "sum(duplicates) / sum(bronze_rows)", "max": 0.1}
    assert _violations(spark, share, rows, recon) == [(0.2,)]
    assert _violations(spark, {**share, "max": 0.5}, rows, recon) == []


def test_a_left_cart_with_no_reason_passes_the_reason_check(spark: SparkSession) -> None:
    """The check's query runs in ANSI mode: a cart left for no known reason (no reasons, primary
    ``unknown``) must be judged, not make the query fail."""
    import yaml

    path = table("gold.cart_abandonment").checks_path
    assert path is not None
    checks = yaml.safe_load(path.read_text())["checks"]
    spec = next(c for c in checks if c["name"] == "reasons_only_for_left_carts")
    carts = "cart_id string, outcome string, primary_reason string, reasons array<string>"
    rows = [
        ("left-unknown", "abandoned", "unknown", []),
        ("left-known", "abandoned", "shipping_cost", ["shipping_cost", "slow_page"]),
        ("left-wrong", "abandoned", "slow_page", ["shipping_cost"]),
        ("bought", "converted", None, []),
        ("bought-with-reason", "converted", "coupon", ["coupon"]),
    ]
    spec = {k: v for k, v in spec.items() if k in ("type", "condition")}
    assert _violations(spark, spec, rows, carts) == [rows[2], rows[4]]
