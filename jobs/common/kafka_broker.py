"""A single-node Apache Kafka broker (KRaft mode, no ZooKeeper) from Kafka's own jars.

For tests, demos and trying the Kafka transport on one machine, not for production (a shop's
own cluster is given as ``ingest.kafka.bootstrap_servers``). The jars are resolved once from
Maven Central by Apache Ivy (the Ivy jar pyspark ships) into ``ingest.kafka.broker.jars`` by
``detak prefetch``, like Spark's own packages, so a broker starts with no network after that.

The broker runs as one JVM in combined mode (broker and controller, node 1), its data in a
folder of its own, listening on loopback only.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from jobs.common.config import Settings
from jobs.common.errors import UserError

MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def _conf(settings: Settings) -> dict:
    return settings["ingest"]["kafka"]["broker"]


def jars_folder(settings: Settings) -> Path:
    """Where the broker's jars of the configured version live."""
    broker = _conf(settings)
    return Path(str(broker["jars"])) / f"kafka_2.13-{broker['version']}"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else None
    found = str(java) if java is not None and java.is_file() else shutil.which("java")
    if not found:
        raise UserError("java was not found (set JAVA_HOME or put java on PATH); the Kafka broker needs Java 17+")
    return found


def _ivy_jar() -> Path:
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("ivy-*.jar"))
    if not jars:
        raise RuntimeError("pyspark's Ivy jar was not found; reinstall pyspark")
    return jars[-1]


def fetch_jars(settings: Settings) -> Path:
    """Resolve ``org.apache.kafka:kafka_2.13`` and its dependencies into :func:`jars_folder` once.

    Written to a temporary folder and renamed, so a resolution that dies half-way leaves nothing
    that looks complete.
    """
    target = jars_folder(settings)
    if any(target.glob("kafka_2.13-*.jar")):
        return target
    broker = _conf(settings)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cache = Path(str(settings["spark"]["ivy_cache"])) / "cache"
    argv = [
        _java(), "-jar", str(_ivy_jar()),
        "-dependency", "org.apache.kafka", "kafka_2.13", str(broker["version"]),
        "-confs", "default",
        "-cache", str(cache),
        "-retrieve", f"{tmp}/[artifact]-[revision](-[classifier]).[ext]",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"resolving the Kafka broker's jars failed:\n{tail}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(target)
    return target


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """One KRaft broker+controller JVM on loopback, its data and log under ``home``.

    ``with Broker(settings, home) as b:`` starts it and waits until it accepts connections;
    ``b.bootstrap`` is what ``ingest.kafka.bootstrap_servers`` takes.
    """

    def __init__(self, settings: Settings, home: Path, port: int | None = None, partitions: int = 2) -> None:
        self.settings = settings
        self.home = Path(home)
        self.port = int(port or _conf(settings)["port"])
        self.controller_port = free_port()
        self.partitions = partitions
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    def _properties(self) -> Path:
        data = self.home / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _classpath(self) -> str:
        folder = jars_folder(self.settings)
        if not any(folder.glob("kafka_2.13-*.jar")):
            raise UserError(f"the Kafka broker's jars are not in {folder}: run `make setup` (detak prefetch) once")
        return f"{folder}/*"

    def start(self, timeout: float = 90.0) -> Broker:
        if not _free(self.port):
            raise UserError(f"port {self.port} is in use: another broker runs there (ingest.kafka.broker.port)")
        self.home.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        java, cp = _java(), self._classpath()
        if not (self.home / "data" / "meta.properties").exists():
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            subprocess.run(
                [java, "-cp", cp, STORAGE_TOOL, "format", "-t", cluster, "-c", str(props), "--standalone"],
                check=True,
                capture_output=True,
            )
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [java, "-Xmx512m", "-XX:+UseSerialGC", "-cp", cp, MAIN, str(props)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while _free(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Kafka broker did not listen on {self.port} within {timeout:.0f} s")
            time.sleep(0.25)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
