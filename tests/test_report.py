"""The report on a period without rows: every chart still draws (saying there is nothing), no errors.

A warehouse whose report tables exist, made from their contracts, but hold no rows: what a shop sees
before its first publish of a period, or for a period with no searches, no carts or no scoring.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from jobs.common.config import Settings, load_settings
from jobs.common.contracts import table
from jobs.publish.warehouse import Warehouse, warehouse
from jobs.report import CHARTS, build_report, render_in_chromium

REPORT_TABLES = (
    "gold.session_facts",
    "gold.traffic_hourly",
    "gold.funnel_daily",
    "gold.abandonment_reasons_daily",
    "gold.search_quality_daily",
    "gold.cart_risk",
)


def empty_warehouse(home: Path) -> tuple[Settings, Warehouse]:
    """A DuckDB warehouse under ``home`` whose report tables exist, from their contracts, with no rows."""
    conf = load_settings("ci", environ={"DETAK_HOME": str(home)})
    wh = warehouse(conf, "duckdb")
    path = conf.path("warehouse")
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA gold")
        for name in REPORT_TABLES:
            columns = ", ".join(f'"{c.name}" {wh.column_type(c)}' for c in table(name).columns)
            con.execute(f"CREATE TABLE {name} ({columns})")
    return conf, wh


def test_every_chart_survives_a_period_without_rows(tmp_path: Path) -> None:
    conf, _ = empty_warehouse(tmp_path)
    out, days = build_report(conf, tmp_path / "empty.html", date(2026, 11, 11), date(2026, 11, 12), target="duckdb")
    assert days == []
    page = out.read_text()
    # Every chart without data says so in its own words (gold.cart_risk: why it is empty).
    assert page.count("No rows in 2026-11-11 .. 2026-11-12.") == len(CHARTS) - 1
    assert "No open carts scored in this period" in page
    # No machine path in the page: the warehouse by kind, the Data Docs by a relative link.
    assert str(tmp_path) not in page
    assert 'href="file:' not in page
    assert "Read from the duckdb warehouse" in page and 'href="quality/data_docs/index.html"' in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    rendered = render_in_chromium(out, tmp_path / "empty.png", browser)
    assert rendered["errors"] == []
    assert rendered["charts"] == {chart_id: True for chart_id, _ in CHARTS}
    assert rendered["summary"] == []


def test_the_funnel_reads_as_conversion_on_a_sparse_day(tmp_path: Path) -> None:
    """One day, one segment, three steps: the chart shows each step's share of the first step."""
    from jobs.report import report_figures

    conf, wh = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        for i, (step, n) in enumerate((("session_start", 200), ("product_view", 80), ("purchase", 5))):
            con.execute(
                "INSERT INTO gold.funnel_daily (date, step_index, step, sessions) VALUES (DATE '2026-11-11', ?, ?, ?)",
                [i, step, n],
            )
    figs = report_figures(wh, date(2026, 11, 11), date(2026, 11, 11), 15)
    (trace,) = figs["funnel"].data
    assert list(trace.x) == ["session_start", "product_view", "purchase"]
    assert list(trace.y) == [1.0, 0.4, 0.025]
