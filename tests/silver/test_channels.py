"""Channel grouping: each rule, its precedence, and the shop's own pages."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.silver.channels import CHANNELS, channel_expr
from tests.conftest import ci_settings

SHOP = "https://www.tokodetak.id/p/sepatu-123"
COLUMNS = "case string, utm_source string, utm_medium string, referrer_host string, page_url string"


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dict(ci_settings(tmp_path_factory.mktemp("channels_home"))["silver"])


def channels(spark: SparkSession, params: dict[str, Any], rows: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
    df = spark.createDataFrame(rows, COLUMNS).select("case", channel_expr(params).alias("channel"))
    return [(r["case"], r["channel"]) for r in df.collect()]


def test_each_rule(spark: SparkSession, params: dict[str, Any]) -> None:
    rows = [
        ("facebook ads", "facebook", "cpc", "l.facebook.com", SHOP),
        ("instagram paid", "Instagram", "Paid", None, SHOP),
        ("paid_social medium", "meta", "paid_social", None, SHOP),
        ("display", "criteo", "display", None, SHOP),
        ("cpm banner", "kompas", "CPM", "www.kompas.com", SHOP),
        ("google ads", "google", "cpc", "www.google.com", SHOP),
        ("other ppc", "shopee_ads", "ppc", None, SHOP),
        ("newsletter", "newsletter", "email", None, SHOP),
        ("e-mail", "crm", "E-Mail ", None, SHOP),
        ("affiliate", "shopback", "affiliate", "www.shopback.co.id", SHOP),
        ("partner", "kumparan", "partner", "kumparan.com", SHOP),
        ("social medium", "creator123", "social", None, SHOP),
        ("social source", "tiktok", None, None, SHOP),
        ("social referrer", None, None, "m.facebook.com", SHOP),
        ("x.com", None, None, "x.com", SHOP),
        ("youtube", None, None, "www.youtube.com", SHOP),
        ("google organic", None, None, "www.google.co.id", SHOP),
        ("bing", None, None, "www.bing.com", SHOP),
        ("duckduckgo", None, None, "duckduckgo.com", SHOP),
        ("search source", "google", "organic", None, SHOP),
        ("blog", None, None, "www.detik.com", SHOP),
        ("lookalike host", None, None, "google.example.com", SHOP),
        ("direct", None, None, None, SHOP),
        ("own page", None, None, "www.tokodetak.id", SHOP),
        ("push", "push", "notification", None, "tokodetak://promo/1111"),
        ("empty tags", " ", "", None, SHOP),
    ]
    expected = [
        ("facebook ads", "paid_social"),
        ("instagram paid", "paid_social"),
        ("paid_social medium", "paid_social"),
        ("display", "display"),
        ("cpm banner", "display"),
        ("google ads", "paid_search"),
        ("other ppc", "paid_search"),
        ("newsletter", "email"),
        ("e-mail", "email"),
        ("affiliate", "affiliate"),
        ("partner", "affiliate"),
        ("social medium", "organic_social"),
        ("social source", "organic_social"),
        ("social referrer", "organic_social"),
        ("x.com", "organic_social"),
        ("youtube", "organic_social"),
        ("google organic", "organic_search"),
        ("bing", "organic_search"),
        ("duckduckgo", "organic_search"),
        ("search source", "organic_search"),
        ("blog", "referral"),
        ("lookalike host", "referral"),
        ("direct", "direct"),
        ("own page", "direct"),
        ("push", "direct"),
        ("empty tags", "direct"),
    ]
    assert channels(spark, params, rows) == expected
    assert {c for _, c in expected} == set(CHANNELS)


def test_first_match_wins(spark: SparkSession, params: dict[str, Any]) -> None:
    rows = [
        # Paid beats the social referrer and source; email beats a search referrer; affiliate
        # beats a social source; social beats a search referrer.
        ("paid over organic", "google", "cpc", "www.google.com", SHOP),
        ("email over search ref", "newsletter", "email", "www.google.com", SHOP),
        ("affiliate over social", "instagram", "affiliate", None, SHOP),
        ("social over search", "youtube", None, "www.google.com", SHOP),
        ("search over referral", None, None, "search.yahoo.com", SHOP),
    ]
    expected = [
        ("paid over organic", "paid_search"),
        ("email over search ref", "email"),
        ("affiliate over social", "affiliate"),
        ("social over search", "organic_social"),
        ("search over referral", "organic_search"),
    ]
    assert channels(spark, params, rows) == expected


def test_own_hosts_from_conf_are_not_referrals(spark: SparkSession, params: dict[str, Any]) -> None:
    rows = [
        ("payment return", None, None, "pay.tokodetak.id", SHOP),
        ("apex", None, None, "tokodetak.id", SHOP),
        ("elsewhere", None, None, "www.kaskus.co.id", SHOP),
    ]
    with_own = {**params, "channels": {**params["channels"], "own_hosts": ["tokodetak.id"]}}
    without_own = {**params, "channels": {**params["channels"], "own_hosts": []}}
    assert channels(spark, without_own, rows) == [
        ("payment return", "referral"),
        ("apex", "referral"),
        ("elsewhere", "referral"),
    ]
    assert channels(spark, with_own, rows) == [
        ("payment return", "direct"),
        ("apex", "direct"),
        ("elsewhere", "referral"),
    ]


def test_other_column_names_and_never_null(spark: SparkSession, params: dict[str, Any]) -> None:
    df = spark.createDataFrame(
        [("a", None, None, None), ("b", "Facebook", "CPC", None)], "id string, src string, med string, ref string"
    )
    expr = channel_expr(params, F.col("src"), F.col("med"), F.col("ref"), F.lit(None).cast("string"))
    assertDataFrameEqual(df.select("id", expr.alias("channel")), [("a", "direct"), ("b", "paid_social")])
