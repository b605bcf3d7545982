"""``detak rotate-key``: a rotated lake equals the lake built from bronze under the new key.

The shared simulated home (bronze and silver under the demo key) is copied twice: one copy is
rotated to a new key, killed half-way through and resumed; the other has its silver rebuilt from
bronze with the new key set. Every silver table with a pseudonym or a session id must be the same
in both, row for row, so the rotated pseudonyms are exactly those the new key gives, session ids
included; no file of the rotated lake may hold an old pseudonym; and while the rotation is under
way, every job that checks the key refuses to start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import ConfigError
from jobs.common.tables import read_table
from jobs.maintenance import rotate_key as rotation
from jobs.maintenance.rotate_key import rotate_key, rotated_tables
from jobs.silver.daily import run_silver
from jobs.silver.privacy import DEMO_KEY, FINGERPRINT_FILE, ROTATION_FILE, check_key, key_fingerprint
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

pytestmark = pytest.mark.integration

OLD, NEW = DEMO_KEY.encode(), b"a-new-secret-key-for-the-rotation-test-0123456789"
LAST_DAY = SIM_START.fromordinal(SIM_START.toordinal() + SIM_DAYS - 1)


class Killed(RuntimeError):
    pass


@pytest.fixture(scope="module")
def homes(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("rotate")
    rotated = sim_settings(copy_home(sim_home, root / "rotated"))
    names = sorted(c.name for c, _ in rotated_tables(spark, rotated))
    old_values = _pseudonyms(spark, rotated, names)

    # Killed after the second table; meanwhile every job checking the key refuses; then resumed.
    real, done = rotation.rotate_table, []

    def dies_after_two(*args: Any, **kwargs: Any) -> int | None:
        if len(done) == 2:
            raise Killed("killed mid-rotation")
        done.append(args[1].name)
        return real(*args, **kwargs)

    rotation.rotate_table = dies_after_two  # type: ignore[assignment]
    try:
        with pytest.raises(Killed):
            rotate_key(spark, rotated, OLD, NEW)
    finally:
        rotation.rotate_table = real  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="rotation is under way") as refused:
        check_key(rotated, OLD)
    with pytest.raises(ConfigError, match="under way; resume it with those keys") as other_key:
        rotate_key(spark, rotated, OLD, b"yet-another-key")
    resumed = rotate_key(spark, rotated, OLD, NEW)

    rebuilt = sim_settings(copy_home(sim_home, root / "rebuilt"))
    lake = rebuilt.path("lake")
    for part in ("silver", "ops", FINGERPRINT_FILE):
        target = lake / part
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    previous = os.environ.get("DETAK_PSEUDONYM_KEY")
    os.environ["DETAK_PSEUDONYM_KEY"] = NEW.decode()
    try:
        run_silver(spark, LAST_DAY, rebuilt)
    finally:
        if previous is None:
            os.environ.pop("DETAK_PSEUDONYM_KEY")
        else:
            os.environ["DETAK_PSEUDONYM_KEY"] = previous
    return {
        "rotated": rotated,
        "rebuilt": rebuilt,
        "names": names,
        "old_values": old_values,
        "killed_after": list(done),
        "resumed": resumed,
        "refused": str(refused.value),
        "other_key": str(other_key.value),
    }


def _pseudonyms(spark: SparkSession, settings: Any, names: list[str]) -> set[str]:
    """Every pseudonym and session id of the rotated tables (bounded: a small simulated shop)."""
    values: set[str] = set()
    for name in names:
        df = read_table(spark, name, settings)
        contract_cols = [c for c in ("user_id", "anonymous_id", "actor", "session_id") if c in df.columns]
        for c in contract_cols:
            values |= {r[0] for r in df.select(c).where(f"{c} IS NOT NULL").distinct().collect()}
    return values


def test_the_rotated_lake_equals_silver_rebuilt_under_the_new_key(spark: SparkSession, homes: dict) -> None:
    # Every silver table with a pseudonym or a session id (bronze keeps raw ids; the shared home has no gold).
    assert homes["names"] == [
        "silver.actor_verdicts",
        "silver.events",
        "silver.identity_map",
        "silver.orders",
        "silver.reviews",
        "silver.sessions",
    ]
    for name in homes["names"]:
        got, want = read_table(spark, name, homes["rotated"]), read_table(spark, name, homes["rebuilt"])
        assertDataFrameEqual(got, want.select(got.columns), checkRowOrder=False)


def test_a_killed_rotation_resumes_and_skips_the_tables_it_finished(homes: dict) -> None:
    resumed = homes["resumed"]
    assert resumed["resumed"] is True
    assert resumed["tables_skipped"] == sorted(homes["killed_after"])
    assert sorted(resumed["rows_rewritten"]) == sorted(set(homes["names"]) - set(homes["killed_after"]))
    assert "finish it with `detak rotate-key`" in homes["refused"]
    assert key_fingerprint(b"yet-another-key") in homes["other_key"]


def test_no_file_of_the_rotated_lake_holds_an_old_pseudonym(homes: dict) -> None:
    lake = homes["rotated"].path("lake")
    old = homes["old_values"]
    assert len(old) > 100  # the search below looks for something
    assert not (lake / ROTATION_FILE).exists() and not (lake / "_rotation").exists()
    assert json.loads((lake / FINGERPRINT_FILE).read_text())["fingerprint"] == key_fingerprint(NEW)
    found = []
    for layer in ("silver", "gold", "features"):
        for path in (lake / layer).rglob("*.parquet"):
            table = pq.read_table(path)
            for name in set(table.column_names) & {"user_id", "anonymous_id", "actor", "session_id"}:
                hits = old & {v for v in table.column(name).to_pylist() if v is not None}
                if hits:
                    found.append((str(path.relative_to(lake)), name, len(hits)))
    assert found == []


def test_rotate_key_without_the_new_key_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DETAK_NEW_PSEUDONYM_KEY"}
    env.update(DETAK_HOME=str(tmp_path), DETAK_ENV="ci")
    proc = subprocess.run(
        [sys.executable, "-m", "jobs", "rotate-key"], env=env, capture_output=True, text=True, timeout=120
    )
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (
        2,
        [
            "detak: error: DETAK_NEW_PSEUDONYM_KEY is not set: export the new key there "
            "(DETAK_NEW_PSEUDONYM_KEY=<32+ random bytes>) to rotate to it"
        ],
    )
