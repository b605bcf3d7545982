"""Campaign performance: the simulator's planted lifts recovered, the table recomputed in plain Python
from the session facts (attribution, counts, Mantel-Haenszel lifts), the dates a change reaches, and
a run with no data."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings, load_settings
from jobs.common.stats import mh_lift
from jobs.common.tables import read_table
from jobs.gold.browsing import run_browsing
from jobs.gold.campaigns import TABLE, affected, run_campaigns
from tests.conftest import sim_settings, simulated_silver

#: One simulated UTC day of 11.11: local 07:00-24:00 of the sale day in Jakarta, its busy hours.
START, DAYS, USERS, SEED = date(2026, 11, 11), 1, 2000, 11
PARAMS = load_settings()["gold"]["campaigns"]
TZ = ZoneInfo("Asia/Jakarta")
#: Two planted campaigns with known lifts; carts convert twice as often as by default, so that a
#: campaign of a few hundred sessions has enough purchases for its lift to be measured.
CAMPAIGNS = [
    {"name": "flash_tiktok", "source": "tiktok", "medium": "paid_social", "share": 0.35, "lift": 1.0,
     "hours": [0, 24], "days": "all"},
    {"name": "live_instagram", "source": "instagram", "medium": "paid_social", "share": 0.4, "lift": 1.5,
     "hours": [9, 23], "days": "all"},
]  # fmt: skip
SIMULATOR = {"campaigns": CAMPAIGNS, "cart_conversion_share": 0.6, "cart_emptied_share": 0.1}


@pytest.fixture(scope="module")
def campaigns_home(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    home = tmp_path_factory.mktemp("campaigns")
    conf = sim_settings(home, simulator=SIMULATOR)
    simulated_silver(spark, conf, START, DAYS, USERS, SEED)
    last = START + timedelta(days=DAYS - 1)
    run_browsing(spark, last, conf)
    summary = run_campaigns(spark, last, conf)
    assert summary["dates"] == f"{START - timedelta(days=1)}..{last + timedelta(days=1)}"
    return home, conf


def test_planted_lifts_are_recovered(spark: SparkSession, campaigns_home: tuple[Path, Settings]) -> None:
    """Each planted campaign's lift over a local day with at least 500 sessions is within ±20 % of
    the planted one, and inside its interval."""
    home, conf = campaigns_home
    truth = {r["name"]: r["lift"] for r in pq.read_table(home / "truth" / "campaigns.parquet").to_pylist()}
    assert truth == {c["name"]: c["lift"] for c in CAMPAIGNS}
    last_hours = (
        read_table(spark, TABLE, conf)
        .where(F.col("campaign").isin(*truth))
        .groupBy("campaign", "local_date")
        .agg(
            F.max_by(
                F.struct("day_sessions", "day_conversion_lift", "day_conversion_lift_low", "day_conversion_lift_high"),
                F.col("hour_local"),
            ).alias("day")
        )
        .select("campaign", "local_date", "day.*")
        .collect()  # bounded: two campaigns × three local dates
    )
    judged = [r for r in last_hours if r["day_sessions"] >= 500]
    print("campaign lifts:", [(r["campaign"], str(r["local_date"]), r["day_sessions"], r["day_conversion_lift"])
                              for r in sorted(last_hours)])  # fmt: skip
    assert {r["campaign"] for r in judged} == set(truth), sorted(last_hours)
    for r in judged:
        planted = truth[r["campaign"]]
        assert abs(r["day_conversion_lift"] - planted) <= 0.2 * planted, r
        assert r["day_conversion_lift_low"] <= planted <= r["day_conversion_lift_high"], r


def _by_hand(facts: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The table's rows from session facts, by the documented rules, in plain Python."""
    window = timedelta(days=int(PARAMS["attribution_days"]))
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in facts:
        by_device[f["anonymous_id"]].append(f)
    hours: dict[Any, dict[str | None, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 6))
    for sessions in by_device.values():
        claim: tuple[str, Any] | None = None
        for f in sorted(sessions, key=lambda f: (f["session_start"], f["session_id"])):
            campaign = f["utm_campaign"]
            if (
                campaign is None
                and f["channel"] == "direct"
                and claim
                and claim[0]
                and f["session_start"] <= claim[1] + window
            ):
                campaign = claim[0]  # fmt: skip
            if f["utm_campaign"] is not None:
                claim = (f["utm_campaign"], f["session_start"])
            elif f["channel"] != "direct":
                claim = ("", f["session_start"])
            local = f["session_start"].replace(tzinfo=ZoneInfo("UTC")).astimezone(TZ).replace(tzinfo=None)
            hour = local.replace(minute=0, second=0, microsecond=0)
            counts = hours[hour][campaign]
            for i, v in enumerate((1, f["utm_campaign"] is not None, f["purchased"], f["orders"], f["revenue"],
                                   f["add_to_carts"])):  # fmt: skip
                counts[i] += int(v)
    rows = {}
    for hour, groups in hours.items():
        control = groups.get(None, [0] * 6)
        for campaign, c in groups.items():
            if campaign is None:
                continue
            lift = mh_lift([(c[2], c[0], control[2], control[0])])
            rows[(hour, campaign)] = {
                "sessions": c[0], "tagged_sessions": c[1], "converted_sessions": c[2], "orders": c[3],
                "revenue": c[4], "add_to_carts": c[5], "control_sessions": control[0],
                "control_converted": control[2], "conversion_lift": None if lift is None else lift[0],
            }  # fmt: skip
    return rows


def test_the_table_equals_the_rules_by_hand(spark: SparkSession, campaigns_home: tuple[Path, Settings]) -> None:
    """Every row of the complete local day, recomputed from gold.session_facts in plain Python."""
    _, conf = campaigns_home
    day = START
    facts = read_table(spark, "gold.session_facts", conf).collect()  # bounded: a two-day test run
    expected = {k: v for k, v in _by_hand([f.asDict() for f in facts]).items() if k[0].date() == day}
    got = {
        (r["hour_local"], r["campaign"]): r.asDict()
        for r in read_table(spark, TABLE, conf).where(F.col("local_date") == day).collect()  # bounded: one day
    }
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        for name, value in want.items():
            if name == "conversion_lift" and value is not None:
                assert row[name] == pytest.approx(value, rel=1e-9), (key, name)
            else:
                assert row[name] == value, (key, name, row[name], value)
    # The day's running lift of each campaign equals the Mantel-Haenszel lift over its hours so far.
    for campaign in {k[1] for k in expected}:
        hours = sorted(k for k in expected if k[1] == campaign)
        strata = [(expected[k]["converted_sessions"], expected[k]["sessions"], expected[k]["control_converted"],
                   expected[k]["control_sessions"]) for k in hours]  # fmt: skip
        whole = mh_lift(strata, float(PARAMS["interval"]))
        last = got[hours[-1]]
        assert last["day_sessions"] == sum(s[1] for s in strata)
        if whole is None:
            assert last["day_conversion_lift"] is None
        else:
            assert (last["day_conversion_lift"], last["day_conversion_lift_low"], last["day_conversion_lift_high"]) == (
                pytest.approx(whole, rel=1e-9)
            )


def test_a_changed_date_reaches_the_attribution_and_baseline_days() -> None:
    reach = int(PARAMS["attribution_days"]) + int(PARAMS["baseline_days"]) + 1
    assert affected({date(2026, 11, 11)}, PARAMS) == {
        date(2026, 11, 11) + timedelta(days=k) for k in range(-1, reach + 1)
    }
    assert affected(set(), PARAMS) == set()


def test_no_sessions_writes_nothing_and_fails_nothing(spark: SparkSession, tmp_path: Path) -> None:
    conf = sim_settings(tmp_path / "home")
    summary = run_campaigns(spark, date(2026, 11, 11), conf)
    assert summary == {"run_date": "2026-11-11", "dates": "none", "rows": {}, "noop": True}
    assert read_table(spark, TABLE, conf).count() == 0
