"""Spark beyond one JVM for the tests of this folder: a standalone cluster and a Spark Connect server.

Both run from pyspark's own jars on loopback, in their own process groups, and are stopped (the
groups killed) at the end of the session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.common.spark import connect_server_argv
from tests.cluster.pipeline import make_home, run_local
from tests.cluster.standalone import Cluster, free_port, standalone, stop
from tests.conftest import ci_settings, shared_home


@pytest.fixture(scope="session")
def local_reference(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The tiny day simulated, ingested and run through the compared jobs on the tests' local
    session: what the cluster and the Connect runs must equal (read-only; built once per run)."""
    home = shared_home(tmp_path_factory, "local_reference", lambda home: run_local(spark, make_home(home)))
    return ci_settings(home)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Master and two 1-core, 1 GiB workers; yields once both are registered with the master."""
    with standalone(tmp_path_factory.mktemp("standalone"), workers=2, cores=1, memory="1g") as running:
        yield running


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Spark Connect server (local[2], detak's CI Spark settings); yields its ``sc://`` URL."""
    home = tmp_path_factory.mktemp("connect")
    port = free_port()
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    # Its Python workers get detak's code from the archive it ships, like executors on a cluster.
    env.pop("PYTHONPATH", None)
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            connect_server_argv(ci_settings(home, spark={"conf": {"spark.driver.memory": "2g"}}), port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Spark Connect server did not start:\n{log.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop(proc)
