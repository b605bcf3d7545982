"""A Spark standalone cluster (a master and N workers) on loopback, from pyspark's own jars.

Used by the cluster tests (tests/cluster/conftest.py) and by ``make bench`` (1 worker against 2).
Every daemon runs in its own process group, so stopping kills the JVMs and whatever they started
(executors), leaving no orphans.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    master_url: str
    webui: str
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.webui}/json", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def shipped(self, name: str) -> list[Path]:
        """Copies of file ``name`` the executors fetched (one per executor that got it)."""
        return sorted(self.workdir.glob(f"worker-*/app-*/*/{name}"))

    def alive_workers(self) -> int:
        try:
            return sum(1 for w in self.state().get("workers", []) if w.get("state") == "ALIVE")
        except OSError:
            return 0


def _daemon(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the executors too
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def standalone(
    workdir: Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 600
) -> Iterator[Cluster]:
    """Start a master and ``workers`` workers on 127.0.0.1; yield once all are registered; stop them all."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        # No REST submission server (its fixed port 6066 would clash with another cluster on the
        # machine); daemons are small and short-lived: a quick JIT and a small heap start faster.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_DAEMON_JAVA_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    }
    # Executors inherit the workers' environment: without the caller's PYTHONPATH they find detak's
    # code only where a real cluster would, in what the application ships (--py-files).
    env.pop("PYTHONPATH", None)
    port, ui = free_port(), free_port()
    cluster = Cluster(master_url=f"spark://127.0.0.1:{port}", webui=f"http://127.0.0.1:{ui}", workdir=workdir)
    try:
        cluster.processes.append(
            _daemon(
                ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                 "--webui-port", str(ui)],
                workdir / "master.log",
                env,
            )
        )  # fmt: skip
        for i in range(workers):
            work = workdir / f"worker-{i}"
            work.mkdir(exist_ok=True)
            cluster.processes.append(
                _daemon(
                    ["org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host", "127.0.0.1",
                     "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                     "--work-dir", str(work)],
                    workdir / f"worker-{i}.log",
                    env,
                )
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while cluster.alive_workers() < workers:
            dead = [p.args for p in cluster.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"--- {f.name}\n{f.read_text()[-2000:]}" for f in sorted(workdir.glob("*.log")))
                raise RuntimeError(f"standalone cluster did not come up ({workers} workers wanted)\n{logs}")
            time.sleep(0.5)
        yield cluster
    finally:
        for proc in reversed(cluster.processes):
            stop(proc)
