"""Leases: one holder at a time, a clear error for the loser, and a dead holder's lease freed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobs.common.config import Settings
from jobs.common.lock import LeaseBusy, hold
from tests.conftest import ci_settings


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    return ci_settings(tmp_path / "home", locks={"wait_seconds": 0, "ttl_seconds": 60})


def test_the_second_holder_gets_a_clear_error_naming_the_first(conf: Settings) -> None:
    busy = pytest.raises(LeaseBusy, match=r"silver.events is being written by silver \(run run-1, pid \d+ on ")
    with hold(conf, ["silver.events"], "silver", "run-1"), busy, hold(conf, ["silver.events"], "maintenance"):
        pass
    # Released: the next holder gets it at once.
    with hold(conf, ["silver.events"], "maintenance"):
        pass


def test_a_waiting_holder_gets_the_lease_when_it_is_released(tmp_path: Path) -> None:
    conf = ci_settings(tmp_path / "home", locks={"wait_seconds": 30, "ttl_seconds": 60})
    order: list[str] = []

    def first() -> None:
        with hold(conf, ["gold.funnel_daily"], "gold_browsing"):
            order.append("first in")
            time.sleep(1.0)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    while not order:
        time.sleep(0.01)
    with hold(conf, ["gold.funnel_daily"], "maintenance"):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_a_lease_of_a_killed_process_is_free_at_once(conf: Settings) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = Path(str(conf["paths"]["locks"]))
    folder.mkdir(parents=True)
    record = {
        "lease": "silver.events",
        "job": "silver",
        "run_id": "killed",
        "host": socket.gethostname(),
        "pid": int(dead.stdout),
        "token": "x",
        "acquired": time.time(),
        "expires": time.time() + 3600,
    }
    (folder / "silver.events.lease").write_text(json.dumps(record))
    with hold(conf, ["silver.events"], "silver", "next"):
        held = json.loads((folder / "silver.events.lease").read_text())
        assert (held["run_id"], held["pid"]) == ("next", os.getpid())


def test_an_expired_lease_of_another_host_is_free(conf: Settings) -> None:
    folder = Path(str(conf["paths"]["locks"]))
    folder.mkdir(parents=True)
    record = {"lease": "silver.events", "job": "silver", "run_id": "gone", "host": "other-host", "pid": 1,
              "token": "x", "acquired": time.time() - 7200, "expires": time.time() - 1}  # fmt: skip
    (folder / "silver.events.lease").write_text(json.dumps(record))
    with hold(conf, ["silver.events"], "silver", "next"):
        assert json.loads((folder / "silver.events.lease").read_text())["run_id"] == "next"
    assert not (folder / "silver.events.lease").exists()
