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


def test_the_key_appears_in_no_query_plan(spark: SparkSession) -> None:
    key = b"plan-secret-0123456789abcdefghij"
    padded = key.ljust(64, b"\0")
    secrets = [key.hex(), key.decode()]
    for pad in (0x36, 0x5C):
        xored = bytes(b ^ pad for b in padded)
        secrets += [xored.hex(), xored[:24].hex(), xored[:24].hex().upper(), str(list(xored[:12]))[1:-1]]
    df = spark.createDataFrame([("u1",), (None,)], "id string")
    out = df.select(hmac_sha256(F.col("id"), key).alias("p"))

    assert [r["p"] for r in out.collect()] == [hmac.new(key, b"u1", hashlib.sha256).hexdigest(), None]
    qe = out._jdf.queryExecution()  # after execution: the final adaptive plan, as the UI shows it
    modes = ("simple", "extended", "codegen", "cost", "formatted")
    jvm_mode = spark._jvm.org.apache.spark.sql.execution.ExplainMode  # type: ignore[union-attr]
    texts = [qe.toString(), qe.executedPlan().toString(), *[qe.explainString(jvm_mode.fromString(m)) for m in modes]]
    for text in texts:
        for secret in secrets:
            assert secret not in text and secret.lower() not in text.lower(), secret


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


def test_the_lake_keeps_its_key_fingerprint_and_refuses_another_key(tmp_path) -> None:
    import json

    from jobs.common.config import ConfigError
    from jobs.silver.privacy import FINGERPRINT_FILE, check_key, key_fingerprint

    conf = ci_settings(tmp_path)
    stored = tmp_path / "lake" / FINGERPRINT_FILE
    check_key(conf, b"team-secret")  # only checks: nothing recorded
    assert not stored.exists()
    check_key(conf, b"team-secret", record=True)
    doc = json.loads(stored.read_text())
    expected = hmac.new(b"team-secret", b"detak pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]
    assert doc["fingerprint"] == key_fingerprint(b"team-secret") == expected
    assert "team-secret" not in stored.read_text()
    check_key(conf, b"team-secret", record=True)  # the same key again: fine
    other = key_fingerprint(b"other-secret")
    message = (
        f"DETAK_PSEUDONYM_KEY is not the key this lake's pseudonyms were made with (lake: key fingerprint "
        f"{expected}, this key: {other}): set the original key, or move the lake to this one with `detak rotate-key` "
        "(docs/PRIVACY.md#key-rotation)"
    )
    for record in (False, True):
        with pytest.raises(ConfigError) as err:
            check_key(conf, b"other-secret", record=record)
        assert str(err.value) == message
    assert json.loads(stored.read_text()) == doc
