"""The shop's calendar for any year: public holidays, Ramadan, paydays and the double-date sale days.

Configuration ``calendar`` (conf/base.yaml) holds rules; :func:`resolve` turns them into dates for
the years a job needs, in the shape the simulator and gold.purchase_time_profile read:

* Public holidays come from the maintained ``holidays`` package for ``calendar.country``
  (Indonesia: national and Islamic holidays as decreed, estimated for years not decreed yet),
  plus the shop's own ``calendar.holidays``.
* Ramadan is the ``calendar.ramadan_days`` days before the first day of Eid al-Fitr (1 Shawwal) as
  the package dates it, plus the shop's own ``calendar.ramadan`` periods. Indonesia's Ramadan has
  29 or 30 days as the moon is sighted, so a rule-made start may be a day early.
* Sale days are the double dates of ``calendar.double_dates`` (day M of month M: 9.9, 10.10, 11.11,
  and 12.12, Harbolnas) every year, plus the shop's own ``calendar.sale_days``; an own entry wins
  over a rule on the same date.
* Paydays are the days of the month in ``calendar.payday_days``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

#: The ``holidays`` package's English name of the first day of Eid al-Fitr.
EID_AL_FITR = "Eid al-Fitr"


@functools.lru_cache(maxsize=64)
def public_holidays(country: str, year: int) -> tuple[tuple[date, str], ...]:
    """``(date, English name)`` of ``country``'s public holidays in ``year``, in date order."""
    import holidays

    found = holidays.country_holidays(country, years=year, language="en_US")
    return tuple(sorted((d, str(name)) for d, name in found.items()))


def eid_al_fitr(country: str, year: int) -> date | None:
    """The first day of Eid al-Fitr in ``year`` (None where the country has no such holiday)."""
    for day, name in public_holidays(country, year):
        for part in name.split(";"):
            if part.strip().removesuffix(" (estimated)") == EID_AL_FITR:
                return day
    return None


def years_between(first: date, last: date) -> range:
    """Every calendar year from ``first``'s to ``last``'s."""
    return range(first.year, last.year + 1)


def resolve(conf: Mapping[str, Any], years: Iterable[int]) -> dict[str, Any]:
    """``conf`` (the ``calendar`` section) with the dates its rules make in ``years``:
    ``payday_days``, ``sale_days`` (date, name, traffic, flash_sale_peak_local_hour), ``ramadan``
    (start, end) and ``holidays`` (date, name), dates as ISO text like conf's own entries."""
    country = str(conf.get("country") or "ID")
    years = sorted(set(years))
    sale: dict[str, dict[str, Any]] = {}
    for year in years:
        for rule in conf.get("double_dates") or []:
            month = int(rule["month"])
            entry = {k: v for k, v in rule.items() if k != "month"}
            sale[date(year, month, month).isoformat()] = {"date": date(year, month, month).isoformat(), **entry}
    for own in conf.get("sale_days") or []:
        sale[str(own["date"])] = {**own, "date": str(own["date"])}
    ramadan = [{"start": str(r["start"]), "end": str(r["end"])} for r in conf.get("ramadan") or []]
    length = int(conf.get("ramadan_days") or 0)
    holidays: dict[str, str] = {}
    # The next year's Eid too: its Ramadan can begin in the last of ``years`` (in the 2030s, December).
    for year in [*years, years[-1] + 1] if years else []:
        eid = eid_al_fitr(country, year)
        if eid is not None and length > 0:
            start, end = eid - timedelta(days=length), eid - timedelta(days=1)
            ramadan.append({"start": start.isoformat(), "end": end.isoformat()})
    for year in years:
        holidays.update({d.isoformat(): name for d, name in public_holidays(country, year)})
    for own in conf.get("holidays") or []:
        holidays[str(own["date"])] = str(own["name"])
    return {
        **conf,
        "payday_days": [int(d) for d in conf.get("payday_days") or []],
        "sale_days": [sale[d] for d in sorted(sale)],
        "ramadan": sorted(ramadan, key=lambda r: (r["start"], r["end"])),
        "holidays": [{"date": d, "name": holidays[d]} for d in sorted(holidays)],
    }
