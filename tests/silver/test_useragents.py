"""Device type, OS and browser from real user agents, as ua-parser reads them."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.silver.useragents import classify, parse_user_agents

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-A556E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.135 Mobile Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
APPLEBOT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
ANDROID_APP = "TokoDetak/5.12.0 (Android 14; SM-A556E; id_ID)"
IOS_APP = "TokoDetak/5.12.0 (iOS 18.1; iPhone15,2; id_ID)"


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (ANDROID_CHROME, ("mobile", "Android", "Chrome Mobile")),
        (IPHONE_SAFARI, ("mobile", "iOS", "Mobile Safari")),
        (WINDOWS_CHROME, ("desktop", "Windows", "Chrome")),
        (MAC_SAFARI, ("desktop", "Mac OS X", "Safari")),
        (IPAD, ("tablet", "iOS", "Mobile Safari")),
        (ANDROID_TABLET, ("tablet", "Android", "Chrome")),
        (GOOGLEBOT, ("bot", None, "Googlebot")),
        (GOOGLEBOT_SMARTPHONE, ("bot", "Android", "Googlebot")),
        (APPLEBOT, ("bot", "Mac OS X", "Applebot")),
        (HEADLESS, ("desktop", "Linux", "HeadlessChrome")),
        (ANDROID_APP, ("mobile", "Android", "Android")),
        (IOS_APP, ("mobile", "iOS", "Mobile Safari UI/WKWebView")),
        ("curl/8.4.0", ("other", None, "curl")),
        ("", ("other", None, None)),
        (None, ("other", None, None)),
    ],
)
def test_classify(agent: str | None, expected: tuple[str, str | None, str | None]) -> None:
    assert classify(agent) == expected


def test_parse_user_agents_adds_columns_and_keeps_every_row(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [
            ("e1", ANDROID_CHROME),
            ("e2", ANDROID_CHROME),
            ("e3", IPHONE_SAFARI),
            ("e4", WINDOWS_CHROME),
            ("e5", IPAD),
            ("e6", GOOGLEBOT),
            ("e7", HEADLESS),
            ("e8", None),
            ("e9", None),
        ],
        "event_id string, ua string",
    )
    out = parse_user_agents(events, column="ua")
    assert out.columns == ["event_id", "ua", "device_type", "os", "browser"]
    expected = [
        ("e1", ANDROID_CHROME, "mobile", "Android", "Chrome Mobile"),
        ("e2", ANDROID_CHROME, "mobile", "Android", "Chrome Mobile"),
        ("e3", IPHONE_SAFARI, "mobile", "iOS", "Mobile Safari"),
        ("e4", WINDOWS_CHROME, "desktop", "Windows", "Chrome"),
        ("e5", IPAD, "tablet", "iOS", "Mobile Safari"),
        ("e6", GOOGLEBOT, "bot", None, "Googlebot"),
        ("e7", HEADLESS, "desktop", "Linux", "HeadlessChrome"),
        ("e8", None, "other", None, None),
        ("e9", None, "other", None, None),
    ]
    assertDataFrameEqual(out, expected)


def test_each_distinct_agent_is_parsed_once(spark: SparkSession) -> None:
    # The Python step reads the distinct agents (an Aggregate right below it), not the events.
    events = spark.range(3000).selectExpr(
        "id", f"element_at(array('{ANDROID_CHROME}', '{IPAD}', '{GOOGLEBOT}'), cast(id % 3 + 1 as int)) as user_agent"
    )
    out = parse_user_agents(events)
    plan = [line.strip(" :+-") for line in out._jdf.queryExecution().optimizedPlan().toString().splitlines()]
    python_step = next(i for i, line in enumerate(plan) if line.startswith("MapInPandas"))
    assert plan[python_step + 1].startswith("Aggregate"), plan
    assert sorted((r["device_type"], r["count"]) for r in out.groupBy("device_type").count().collect()) == [
        ("bot", 1000),
        ("mobile", 1000),
        ("tablet", 1000),
    ]
