"""Device type, operating system and browser from the user agent, with the ua-parser package.

ua-parser (the maintained uap-core regexes) is Python, so it runs once per *distinct* user agent:
the distinct strings of the frame are parsed with ``mapInPandas`` and joined back. A day has a few
thousand distinct agents however many events it has, so the cost does not grow with traffic.

``device_type`` is, first match wins:

- ``bot``     the parser's device family is ``Spider`` or its browser family names a bot, spider
              or crawler (Googlebot, bingbot, Applebot, ...). Headless browsers are not bots to
              the parser; bot detection flags them separately.
- ``tablet``  the device is an iPad, Kindle or a tablet by the parser's brand/family/model
              (Android without the ``Mobile`` token is ``Generic_Android_Tablet``).
- ``mobile``  a phone operating system (Android, iOS, ...).
- ``desktop`` a desktop operating system (Windows, Mac OS X, Linux, Chrome OS, ...).
- ``other``   anything else, including an empty or missing user agent.

``os`` and ``browser`` are the parser's OS and browser families; null when it recognises none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

UA_COLUMNS = "user_agent string, device_type string, os string, browser string"
_KEY = "_ua_key"

_BOT_FAMILY = re.compile(r"bot|spider|crawl", re.IGNORECASE)
_TABLET = re.compile(r"ipad|tablet|kindle|playbook", re.IGNORECASE)
MOBILE_OS = frozenset(
    {"Android", "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "HarmonyOS", "Tizen", "Symbian OS"}
)
DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "Mint",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)


def classify(user_agent: str | None) -> tuple[str, str | None, str | None]:
    """``(device_type, os, browser)`` of one user agent string."""
    if not user_agent or not user_agent.strip():
        return "other", None, None
    from ua_parser import parse  # on the executors; loads the regexes once per Python worker

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    os_family = result.os.family if result.os else None
    device = result.device
    if (device is not None and device.family == "Spider") or (browser and _BOT_FAMILY.search(browser)):
        kind = "bot"
    elif device is not None and any(_TABLET.search(p or "") for p in (device.family, device.brand, device.model)):
        kind = "tablet"
    elif os_family in MOBILE_OS:
        kind = "mobile"
    elif os_family in DESKTOP_OS:
        kind = "desktop"
    else:
        kind = "other"
    return kind, os_family, browser


def _parse_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        agents = batch["user_agent"]
        parsed = [classify(None if pd.isna(ua) else str(ua)) for ua in agents]
        yield pd.DataFrame(
            {
                "user_agent": agents,
                "device_type": [p[0] for p in parsed],
                "os": [p[1] for p in parsed],
                "browser": [p[2] for p in parsed],
            }
        )


def parse_user_agents(df: DataFrame, column: str = "user_agent", agents_of: DataFrame | None = None) -> DataFrame:
    """``df`` with ``device_type``, ``os`` and ``browser`` parsed from ``column``; same rows.

    The distinct user agents are taken from ``agents_of`` (a frame with the same ``column``) when
    given: a cheaper source holding the same agents, such as the rows ``df`` was deduplicated from.
    """
    agents = (
        (df if agents_of is None else agents_of)
        .select(F.col(column).alias("user_agent"))
        .distinct()
        .mapInPandas(_parse_batches, UA_COLUMNS)
        .withColumnRenamed("user_agent", _KEY)
    )
    joined = df.join(agents, df[column].eqNullSafe(agents[_KEY]), "left")
    return joined.drop(_KEY)
