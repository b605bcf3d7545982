"""Pseudonyms and IP truncation as Spark expressions (no Python UDF, so it scales with the data).

``hmac_sha256`` is RFC 2104 HMAC-SHA256 written with Spark's ``sha2``: with the key padded to
the block size, HMAC(K, m) = SHA256((K ^ opad) || SHA256((K ^ ipad) || m)). The two padded keys
are computed once on the driver and enter the query as a scalar subquery over a one-row frame,
not as literals: a literal is printed in every query plan (``explain``, the Spark UI's SQL tab,
event logs), where anyone who can open them would read the key; a subquery prints as its id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import ConfigError, Settings

log = logging.getLogger(__name__)

BLOCK = 64  # SHA-256 block size in bytes
DEMO_KEY = "detak-demo-key-do-not-use-in-production"


def require_key(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` (one line, naming the variable) when the key is unset where the
    demo key is not allowed (``silver.privacy.allow_demo_key``: only the laptop, test and demo
    settings allow it): pseudonyms under a public key are reversible."""
    env = os.environ if environ is None else environ
    privacy = settings["silver"]["privacy"]
    name = str(privacy["key_env"])
    if not env.get(name) and not privacy.get("allow_demo_key", False):
        raise ConfigError(
            f"{name} is not set: DETAK_ENV={settings.env} pseudonymises real people's ids and needs a secret "
            f"key (export {name}=<32+ random bytes>; docs/PRIVACY.md)"
        )


def pseudonym_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key from the environment (see :func:`require_key`); where allowed and unset, the
    public demo key, with a loud warning."""
    env = os.environ if environ is None else environ
    require_key(settings, env)
    name = str(settings["silver"]["privacy"]["key_env"])
    key = env.get(name)
    if not key:
        log.warning(
            "%s is not set: using the PUBLIC DEMO KEY for pseudonyms. Anyone can reverse them. "
            "Set %s to a secret before processing real people's data.",
            name,
            name,
        )
        print(f"WARNING: {name} is not set; pseudonyms use the public demo key (not for real data)", flush=True)
        key = DEMO_KEY
    return key.encode("utf-8")


#: The lake's record of the key its pseudonyms were made with (a fingerprint, never the key).
FINGERPRINT_FILE = "_pseudonym_key.json"
#: Present while ``detak rotate-key`` rewrites the lake (jobs/maintenance/rotate_key.py).
ROTATION_FILE = "_pseudonym_key_rotation.json"


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of ``key``: an HMAC of a fixed text, which does not reveal the key."""
    return hmac.new(key, b"detak pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]


def check_key(settings: Settings, key: bytes, record: bool = False) -> None:
    """Refuse a key other than the one the lake's pseudonyms were made with (one line, :class:`ConfigError`).

    ``record``: a lake without a fingerprint gets this key's (silver does so on its first run).
    A new key would give every person a second pseudonym that joins with nothing before it;
    changing keys is ``detak rotate-key`` (docs/PRIVACY.md#key-rotation). While a rotation is under
    way every key is refused: the lake holds pseudonyms of both.
    """
    lake = str(settings["paths"]["lake"])
    if "://" in lake:
        log.info("lake on object storage (%s): the key fingerprint is not checked", lake)
        return
    if (Path(lake) / ROTATION_FILE).exists():
        raise ConfigError(
            "a pseudonym key rotation is under way in this lake: finish it with `detak rotate-key` (same keys) "
            "before any other job (docs/PRIVACY.md#key-rotation)"
        )
    path = Path(lake) / FINGERPRINT_FILE
    mine = key_fingerprint(key)
    if path.exists():
        stored = str(json.loads(path.read_text(encoding="utf-8")).get("fingerprint"))
        if stored != mine:
            name = settings["silver"]["privacy"]["key_env"]
            raise ConfigError(
                f"{name} is not the key this lake's pseudonyms were made with (lake: key fingerprint {stored}, "
                f"this key: {mine}): set the original key, or move the lake to this one with `detak rotate-key` "
                "(docs/PRIVACY.md#key-rotation)"
            )
        return
    if record:
        record_fingerprint(settings, key)


def record_fingerprint(settings: Settings, key: bytes, replace: bool = False) -> None:
    """Write ``key``'s fingerprint into the lake (atomically); an existing one only with ``replace``."""
    path = Path(str(settings["paths"]["lake"])) / FINGERPRINT_FILE
    if path.exists() and not replace:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat()
    doc = {"fingerprint": key_fingerprint(key), "algorithm": "hmac-sha256", "recorded_at": now}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def hmac_sha256(col: Column, key: bytes) -> Column:
    """Hex HMAC-SHA256 of a string column under ``key``; null stays null."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    inner_pad, outer_pad = _pads(key.ljust(BLOCK, b"\0"))
    inner = F.unhex(F.sha2(F.concat(inner_pad, col.cast("binary")), 256))
    return F.when(col.isNotNull(), F.sha2(F.concat(outer_pad, inner), 256))


#: One-row frames of padded keys, by session and key digest (a frame belongs to its session).
_PADS: dict[tuple[int, bytes], DataFrame] = {}


def _pads(padded: bytes) -> tuple[Column, Column]:
    """The inner and outer padded keys as scalar subqueries of the active session."""
    spark = SparkSession.active()
    cache_key = (id(spark), hashlib.sha256(padded).digest())
    frame = _PADS.get(cache_key)
    if frame is None or frame.sparkSession is not spark:
        inner = bytearray(b ^ 0x36 for b in padded)
        outer = bytearray(b ^ 0x5C for b in padded)
        frame = spark.createDataFrame([(inner, outer)], "inner_pad binary, outer_pad binary")
        _PADS[cache_key] = frame
    return frame.select("inner_pad").scalar(), frame.select("outer_pad").scalar()


def truncate_ip(col: Column, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> Column:
    """The network part of an IP: IPv4 to /ipv4_prefix (whole octets), IPv6 to /ipv6_prefix (whole hextets).

    ``36.72.1.2`` → ``36.72.1.0/24``; ``2001:db8:85a3:8d3:1319:8a2e:370:7348`` → ``2001:db8:85a3::/48``.
    Anything that is not an address becomes null.
    """
    if ipv4_prefix % 8 or ipv6_prefix % 16:
        raise ValueError("IP prefixes must be whole octets (IPv4) and whole hextets (IPv6)")
    v4_keep = ipv4_prefix // 8
    v6_keep = ipv6_prefix // 16
    octets = F.split(col, r"\.")
    v4 = F.concat(
        F.concat_ws(".", *[octets[i] for i in range(v4_keep)], *[F.lit("0")] * (4 - v4_keep)),
        F.lit(f"/{ipv4_prefix}"),
    )
    # Expand "::" only as far as needed: the kept hextets are those before any "::".
    head = F.split(F.split(F.lower(col), "::")[0], ":")
    v6 = F.concat(
        F.concat_ws(":", *[F.coalesce(F.try_element_at(head, F.lit(i + 1)), F.lit("0")) for i in range(v6_keep)]),
        F.lit(f"::/{ipv6_prefix}"),
    )
    is_v4 = col.rlike(r"^\d{1,3}(\.\d{1,3}){3}$")
    is_v6 = col.rlike(r"^[0-9A-Fa-f:]+$") & col.contains(":")
    return F.when(is_v4, v4).when(is_v6, v6)
