"""ISO-8601 formatting of integer epoch milliseconds (the simulator's clock), fast and exact."""

from __future__ import annotations

import datetime as dt

MS_HOUR = 3_600_000
MS_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1).toordinal()
_DAYS: dict[int, str] = {}


def day_string(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since 1970-01-01)."""
    s = _DAYS.get(day)
    if s is None:
        s = _DAYS[day] = dt.date.fromordinal(_EPOCH + day).isoformat()
    return s


_HOURS: dict[int, tuple[str, str]] = {}


def iso(ms: int, offset_hours: int = 0) -> str:
    """``2026-11-11T00:05:12.345+07:00`` (``Z`` when the offset is 0)."""
    hour, rem = divmod(ms + offset_hours * MS_HOUR, MS_HOUR)
    key = hour * 16 + offset_hours
    parts = _HOURS.get(key)
    if parts is None:  # the date, hour and offset text of each local hour is built once
        suffix = f"+{offset_hours:02d}:00" if offset_hours else "Z"
        parts = _HOURS[key] = (f"{day_string(hour // 24)}T{hour % 24:02d}:", suffix)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    return f"{parts[0]}{m:02d}:{s:02d}.{milli:03d}{parts[1]}"


def date_ms(date: dt.date) -> int:
    """Epoch milliseconds of 00:00 UTC on ``date``."""
    return (date.toordinal() - _EPOCH) * MS_DAY
