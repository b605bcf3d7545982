"""The shop calendar: rule-made sale days, Ramadan and holidays for any year, and the shop's own dates."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from jobs.common.calendar import eid_al_fitr, resolve
from tests.conftest import ci_settings


def test_double_dates_every_year_and_the_shops_own_day_wins(tmp_path: Path) -> None:
    conf = dict(ci_settings(tmp_path)["calendar"])
    conf["sale_days"] = [
        {"date": "2031-11-11", "name": "Singles' Day", "traffic": 9.0},
        {"date": "2031-07-07", "name": "7.7"},
    ]
    got = resolve(conf, [2031])["sale_days"]
    assert [(d["date"], d["name"], d.get("traffic")) for d in got] == [
        ("2031-07-07", "7.7", None),
        ("2031-09-09", "9.9", 3.0),
        ("2031-10-10", "10.10", 3.5),
        ("2031-11-11", "Singles' Day", 9.0),
        ("2031-12-12", "Harbolnas 12.12", 6.0),
    ]
    assert [d["date"] for d in resolve(conf, [2029, 2030])["sale_days"]][:2] == ["2029-09-09", "2029-10-10"]


def test_ramadan_is_the_days_before_eid_al_fitr_and_holidays_come_from_the_library(tmp_path: Path) -> None:
    conf = dict(ci_settings(tmp_path)["calendar"])
    # Idul Fitri 1446 H was Monday 31 March 2025 in Indonesia (SKB 3 Menteri); Ramadan began 1 March.
    assert eid_al_fitr("ID", 2025) == date(2025, 3, 31)
    out = resolve({**conf, "ramadan": [{"start": "2024-03-12", "end": "2024-04-09"}]}, [2025])
    assert out["ramadan"][:2] == [
        {"start": "2024-03-12", "end": "2024-04-09"},
        {"start": "2025-03-01", "end": "2025-03-30"},
    ]
    holidays = {h["date"]: h["name"] for h in out["holidays"]}
    assert holidays["2025-08-17"] == "Independence Day" and holidays["2025-03-31"] == "Eid al-Fitr"
    assert out["payday_days"] == [25, 26, 27, 28, 29, 30, 31, 1]
    # Years without a decree yet are estimated: every year has a Ramadan of ramadan_days ending on
    # the eve of Eid, and one that begins in December belongs to the year it begins in (2030).
    for year in range(2027, 2036):
        eid = eid_al_fitr("ID", year)
        assert eid is not None
        span = resolve(conf, [year])["ramadan"]
        assert {"start": str(eid - timedelta(days=30)), "end": str(eid - timedelta(days=1))} in span
    december = [r for r in resolve(conf, [2030])["ramadan"] if r["start"].startswith("2030-12")]
    assert len(december) == 1 and december[0]["end"].startswith("2031-01")
