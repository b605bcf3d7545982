import hashlib
import hmac

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.silver.privacy import DEMO_KEY, hmac_sha256, pseudonym_key, truncate_ip
from tests.conftest import ci_settings


def test_hmac_matches_the_standard_library(spark: SparkSession) -> None:
    values = ["anon-1", "user@example.id", "ü-ñ", ""]
    for key in [b"k", b"s3cret-key", b"x" * 100]:
        df = spark.createDataFrame([(v,) for v in [*values, None]], "v string")
        got = df.select("v", hmac_sha256(F.col("v"), key).alias("h"))
        expected = spark.createDataFrame(
            [(v, hmac.new(key, v.encode(), hashlib.sha256).hexdigest()) for v in values] + [(None, None)],
            "v string, h string",
        )
        assertDataFrameEqual(got, expected)


def test_ip_truncation(spark: SparkSession) -> None:
    rows = [
        ("36.72.1.2", "36.72.1.0/24"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::/48"),
        ("2001:DB8::1", "2001:db8:0::/48"),
        ("not-an-ip", None),
        (None, None),
    ]
    df = spark.createDataFrame(rows, "ip string, expected string")
    assertDataFrameEqual(
        df.select("ip", truncate_ip(F.col("ip")).alias("expected")),
        df,
    )


def test_key_comes_from_the_environment_or_the_demo_key_with_a_warning(tmp_path, capsys) -> None:
    conf = ci_settings(tmp_path)
    assert pseudonym_key(conf, {"DETAK_PSEUDONYM_KEY": "team-secret"}) == b"team-secret"
    assert pseudonym_key(conf, {}) == DEMO_KEY.encode()
    assert "DETAK_PSEUDONYM_KEY is not set" in capsys.readouterr().out


def test_without_the_key_only_the_demo_settings_use_the_demo_key(tmp_path) -> None:
    from jobs.common.config import ConfigError

    production = ci_settings(tmp_path, silver={"privacy": {"allow_demo_key": False}})
    assert pseudonym_key(production, {"DETAK_PSEUDONYM_KEY": "team-secret"}) == b"team-secret"
    with pytest.raises(ConfigError, match=r"^DETAK_PSEUDONYM_KEY is not set: DETAK_ENV=ci "):
        pseudonym_key(production, {})
