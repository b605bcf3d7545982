"""What the table contracts make the gate check: the key, accepted values (of arrays too, and read
from conf), and the several-dates batching of every table the daily gate covers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.common.contracts import table
from jobs.common.tables import ensure_table, replace_dates
from jobs.quality.gate import gate
from jobs.quality.suites import table_checks
from jobs.registry import PUBLISHED, jobs
from tests.conftest import ci_settings

D1, D2 = date(2026, 11, 10), date(2026, 11, 11)
VERDICTS = "silver.actor_verdicts"
FUNNEL = "gold.funnel_daily"


def _actor(n: int) -> str:
    return f"{n:064x}"  # the shape of a keyed pseudonym


def _verdict(day: date, actor: int, reasons: list[str]) -> tuple:
    seen = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    return (
        day,
        "anonymous_id",
        _actor(actor),
        reasons,
        40,
        seen,
        seen.replace(hour=11),
        {"max_events_per_minute": 70.0},
    )


def _failed(result) -> set[tuple[date, str]]:  # type: ignore[no-untyped-def]
    return {(o.date, o.expectation) for o in result.failed_critical}


def test_a_duplicated_key_and_an_unknown_array_item_each_fail_the_gate_on_their_date(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A good date passes; on the bad date exactly the key and the array's accepted values fail."""
    settings = ci_settings(tmp_path / "home")
    rows = [
        _verdict(D1, 1, ["inhuman_rate"]),
        _verdict(D1, 2, ["card_testing", "known_crawler"]),
        _verdict(D2, 1, ["inhuman_rate"]),
        _verdict(D2, 1, ["regular_timing"]),  # the same actor twice on one date
        _verdict(D2, 3, ["headless", "teleporting"]),  # one item no rule gives
    ]
    ensure_table(spark, VERDICTS, settings)
    replace_dates(spark.createDataFrame(rows, table(VERDICTS).spark_schema), VERDICTS, D1, D2, settings)

    result = gate(spark, VERDICTS, [D1, D2], settings, data_docs=False, record=False)

    assert _failed(result) == {
        (D2, "key_unique(verdict_date, actor_type, actor)"),
        (D2, "accepted_values(reasons)"),
    }
    # The batch of both dates failed, so each date was validated alone and D1 passed every check.
    assert all(o.success for o in result.outcomes if o.date == D1)
    assert "accepted_values(reasons)" in {o.expectation for o in result.outcomes if o.date == D1}


def _funnel_rows(day: date, steps: list[tuple[str, int]]) -> list[tuple]:
    first = steps[0][1]
    out, previous = [], None
    for i, (step, n) in enumerate(steps):
        step_conversion = 1.0 if previous is None else n / previous
        drop = 0 if previous is None else previous - n
        out.append(
            (day, "direct", "mobile", "Jawa Barat", "fashion", i, step, n, step_conversion, n / first, drop, 1.0 * i, 0,
             date(2026, 11, 3), None, None, n, "new")
        )  # fmt: skip
        previous = n
    return out


def test_a_step_outside_the_configured_funnel_fails_until_conf_adds_it(spark: SparkSession, tmp_path: Path) -> None:
    """The accepted steps are gold.browsing.funnel_steps: conf is their one source."""
    rows = _funnel_rows(D1, [("session", 10), ("product_view", 6), ("wishlist", 2)])
    settings = ci_settings(tmp_path / "home")
    ensure_table(spark, FUNNEL, settings)
    replace_dates(spark.createDataFrame(rows, table(FUNNEL).spark_schema), FUNNEL, D1, D1, settings)

    assert _failed(gate(spark, FUNNEL, [D1], settings, data_docs=False, record=False)) == {
        (D1, "accepted_values(step)")
    }

    steps = [*settings["gold"]["browsing"]["funnel_steps"], {"name": "wishlist", "events": ["add_to_wishlist"]}]
    widened = ci_settings(tmp_path / "home", gold={"browsing": {"funnel_steps": steps}})
    assert gate(spark, FUNNEL, [D1], widened, data_docs=False, record=False).passed


def test_every_gated_table_checks_its_key_and_values_and_validates_several_dates_at_once(tmp_path: Path) -> None:
    settings = ci_settings(tmp_path)
    gated = list(PUBLISHED)
    # Exactly the tables the gold and feature jobs and the forecast write, each once.
    written = [t for j in jobs("daily") if j.stage in ("gold", "features") for t in j.outputs]
    written += [t for j in jobs("forecast") for t in j.outputs]
    assert sorted(gated) == sorted(written)
    for name in gated:
        contract = table(name)
        names = [c.name for c in table_checks(contract, settings)]
        assert f"key_unique({', '.join(contract.key)})" in names, name
        assert contract.checks_path is not None, f"{name} has no .checks.yaml"
        assert table_checks(contract, settings, over_dates=True) is not None, f"{name}: no several-date form"
    carts = {c.name: c for c in table_checks(table("gold.cart_abandonment"), settings)}
    query = carts["accepted_values(reasons)"].expectation.unexpected_rows_query  # type: ignore[attr-defined]
    assert query == (
        "SELECT * FROM {batch} WHERE exists(reasons, v -> v NOT IN ('payment_failure', 'out_of_stock', "
        "'shipping_cost_shock', 'coupon_rejected', 'price_increase', 'slow_pages', 'browsing_alternatives', "
        "'no_checkout_started'))"
    )
