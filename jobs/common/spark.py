"""The one way detak gets a Spark session, from the CLI, from tests and under spark-submit."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar, cast

from pyspark.sql import DataFrame, SparkSession

from jobs.common.config import Settings
from jobs.common.config import settings as current_settings

_Built = TypeVar("_Built")
_BUILT: dict[Hashable, tuple[object, Any]] = {}


def built_once(key: Hashable, build: Callable[[], _Built]) -> _Built:
    """``build()``, or what it returned before for the same ``key`` in this process and JVM.

    For Column expressions that are large and always the same for the same inputs (a contract's
    validation, a tracker format's mapping). In a classic session every function of a Column is a
    round trip to the JVM: the clickstream contract's validation is about 77,000 of them, 14 s of
    driver time before each ingest batch even starts. A Column only names its input columns and
    holds no data or plan, so the one built for a key serves every frame of the JVM that built it.
    A new JVM (a stopped and restarted context) builds again; a Spark Connect client's Columns are
    plain Python and are kept the same way.
    """
    from pyspark import SparkContext

    owner = SparkContext._gateway  # None under Spark Connect
    hit = _BUILT.get(key)
    if hit is not None and hit[0] is owner:
        return cast(_Built, hit[1])
    built = build()
    _BUILT[key] = (owner, built)
    return built


def _jar_list_file(settings: Settings) -> Path:
    return Path(str(settings["spark"]["ivy_cache"])) / "detak-jars.json"


def resolved_jars(settings: Settings) -> list[str] | None:
    """The jar files ``detak prefetch`` resolved for ``spark.packages``, when they are all still there.

    A JVM started with these as ``spark.jars`` skips Ivy's resolution (seconds on every start, and
    a lock that parallel starts contend for); any change of the packages makes it resolve again.
    """
    import json

    path = _jar_list_file(settings)
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if saved.get("packages") != packages(settings):
        return None
    jars = [str(j) for j in saved.get("jars", [])]
    if not jars or not all(Path(j.removeprefix("file:")).is_file() for j in jars):
        return None
    return jars


def save_resolved_jars(settings: Settings, jars: list[str]) -> Path:
    """Remember the jars Spark's resolution of ``spark.packages`` gave (see :func:`resolved_jars`)."""
    import json

    path = _jar_list_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"packages": packages(settings), "jars": jars}, indent=1))
    tmp.replace(path)
    return path


def spark_conf(settings: Settings, resolve: bool = False) -> dict[str, str]:
    """Every Spark property detak sets, as strings: used by the session builder and spark-submit.

    The jars are the ones ``detak prefetch`` resolved (no Ivy at start-up) unless ``resolve`` asks
    Spark to resolve ``spark.packages`` again, or nothing was resolved yet.
    """
    spark = settings["spark"]
    conf: dict[str, str] = {str(k): str(v) for k, v in spark["conf"].items()}
    conf.update(
        {
            "spark.app.name": str(spark["app_name"]),
            "spark.sql.shuffle.partitions": str(spark["shuffle_partitions"]),
            "spark.ui.enabled": str(bool(spark["ui"])).lower(),
            "spark.ui.showConsoleProgress": str(bool(spark["progress_bar"])).lower(),
        }
    )
    jars = None if resolve else resolved_jars(settings)
    if jars:
        conf["spark.jars"] = ",".join(jars)
    else:
        # Resolved from Maven Central into the Ivy cache once (make setup), served from there after.
        conf["spark.jars.packages"] = ",".join(packages(settings))
        conf["spark.jars.ivy"] = str(spark["ivy_cache"])
    # Python workers use this interpreter (it has the project's packages) unless the settings name
    # the one a cluster's nodes have (an image's, or a virtualenv shipped in spark.archives).
    conf.setdefault("spark.pyspark.python", sys.executable)
    conf.setdefault("spark.pyspark.driver.python", sys.executable)
    for key, value in lineage_conf(settings).items():
        # A listener of the user's own (spark.conf) stays beside OpenLineage's.
        mine = conf.get(key) if key == "spark.extraListeners" else None
        conf[key] = f"{mine},{value}" if mine else value
    return conf


def packages(settings: Settings) -> list[str]:
    """The Maven coordinates of the jars detak's sessions load."""
    extra = [settings["lineage"]["spark_package"]] if settings["lineage"]["enabled"] else []
    return [str(p) for p in [*settings["spark"]["packages"], *extra]]


def lineage_conf(settings: Settings) -> dict[str, str]:
    """Spark properties of the OpenLineage listener and its file transport (none when lineage is off)."""
    lineage = settings["lineage"]
    if not lineage["enabled"]:
        return {}
    return {
        "spark.extraListeners": "io.openlineage.spark.agent.OpenLineageSparkListener",
        "spark.openlineage.namespace": str(lineage["namespace"]),
        "spark.openlineage.transport.type": "file",
        "spark.openlineage.transport.location": str(lineage["file"]),
    }


def is_local(settings: Settings) -> bool:
    """True when Spark runs inside the driver's JVM (``local``, ``local[N]``, ``local[*]``)."""
    return str(settings["spark"]["master"]).startswith("local")


def submit_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for Airflow's SparkSubmitOperator that match :func:`get_spark` exactly."""
    conf = spark_conf(settings)
    name = conf.pop("spark.app.name")
    if "spark.jars" in conf:
        return {"conf": conf, "jars": conf.pop("spark.jars"), "name": name}
    return {"conf": conf, "packages": conf.pop("spark.jars.packages"), "name": name}


def jobs_archive(settings: Settings) -> Path:
    """Where the zip of the ``jobs`` package shipped to executors lives (under the home)."""
    return Path(settings.home) / "dist" / "detak-jobs.zip"


def _archive_bytes(package: Path) -> bytes:
    """A zip of ``package`` (Python sources and data files, no caches), the same bytes for the same files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
                continue
            info = zipfile.ZipInfo(str(Path(package.name) / path.relative_to(package)), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def build_jobs_archive(settings: Settings) -> Path:
    """Zip the ``jobs`` package this process runs into :func:`jobs_archive`, atomically.

    The file is rewritten only when the code changed, through a temporary file and a rename, so a
    spark-submit reading it meanwhile (a parallel task) never sees half an archive.
    """
    import jobs

    target = jobs_archive(settings)
    data = _archive_bytes(Path(jobs.__file__).resolve().parent)
    if target.exists() and hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def connect_server_argv(settings: Settings, port: int | None = None) -> list[str]:
    """The spark-submit command of a Spark Connect server with detak's Spark settings.

    One long-lived JVM (its master is ``spark.master``) that ``airflow.task_runner: spark_connect``
    tasks reach as thin clients (``spark.remote``). Delta's Connect plugins are added to detak's
    packages; the ``jobs`` archive is shipped with ``--py-files`` for the Python UDFs it runs, so
    the server must be restarted when detak's code changes. Run it under a supervisor (systemd, a
    container) in production; ``tests/cluster`` starts one for the tests.
    """
    import pyspark

    connect = settings["spark"]["connect"]
    # Resolved through Ivy (cached after the first start): Delta's Connect plugins are not among
    # the jars ``detak prefetch`` lists.
    conf = spark_conf(settings, resolve=True)
    packages = ",".join([*conf.pop("spark.jars.packages").split(","), *connect["packages"]])
    conf.update({str(k): str(v) for k, v in (connect.get("conf") or {}).items()})
    conf["spark.connect.grpc.binding.port"] = str(port or connect["port"])
    conf["spark.app.name"] = f"{conf['spark.app.name']}-connect"
    argv = [
        str(Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"),
        "--master",
        str(settings["spark"]["master"]),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--packages",
        packages,
        "--py-files",
        str(build_jobs_archive(settings)),
    ]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return [*argv, "spark-internal"]


def _inside_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands Python the gateway; its --conf flags already apply.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect client session (no JVM, no ``sparkContext`` in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def get_spark(settings: Settings | None = None, app_name: str | None = None, resolve: bool = False) -> SparkSession:
    """Return the active session or build one from settings (master, Delta, jars, shuffles).

    ``resolve`` makes Spark resolve ``spark.packages`` from Maven Central (or the Ivy cache) rather
    than use the jars ``detak prefetch`` listed.

    With ``spark.remote`` set (``sc://host:port``) it is a Spark Connect client of that server
    instead: no JVM here, the server's Spark settings apply.
    """
    settings = settings or current_settings()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    remote = settings["spark"].get("remote")
    if remote:
        session = SparkSession.builder.remote(str(remote))
        if app_name:
            session = session.appName(app_name)
        return session.getOrCreate()
    builder = SparkSession.builder
    # An in-process session starts its Python workers with PYSPARK_PYTHON (default: whatever
    # "python3" is on PATH), not spark.pyspark.python: pin them to this interpreter, which has
    # the project's packages (pandas UDFs need them).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings["lineage"]["enabled"] and "://" not in str(settings["lineage"]["file"]):
        # The listener appends to the file but does not create its folder.
        Path(settings["lineage"]["file"]).parent.mkdir(parents=True, exist_ok=True)
    if not _inside_spark_submit():
        builder = builder.master(str(settings["spark"]["master"]))
        for key, value in spark_conf(settings, resolve=resolve).items():
            builder = builder.config(key, value)
        if app_name:
            builder = builder.appName(app_name)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(str(settings["spark"]["log_level"]))
    if settings["lineage"]["enabled"]:
        # The listener warns at every query that connectors' own lineage extensions could be
        # loaded by another class loader (none of ours has one): keep its errors only.
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        log4j = jvm.org.apache.logging.log4j
        log4j.core.config.Configurator.setLevel("io.openlineage", log4j.Level.ERROR)
    ship_jobs(spark, settings)
    return spark


def ship_jobs(spark: SparkSession, settings: Settings) -> None:
    """On a cluster, send detak's own code to the executors (the zip of :func:`build_jobs_archive`).

    Executors import ``jobs`` for Python UDFs from this archive, not from a path of the driver's
    virtualenv. It is added to the running session (``addPyFile``) rather than given to
    spark-submit as ``--py-files``, which would also put it on the driver's path ahead of the
    checkout: the driver reads its contracts and conf beside the package it imports. Third-party
    packages (pyyaml, ua-parser, ...) must already be on the executors' interpreter
    (``spark.pyspark.python``): an image, or a packed virtualenv in ``spark.archives``.
    """
    if str(spark.sparkContext.master or "local").startswith("local"):
        return
    spark.sparkContext.addPyFile(str(build_jobs_archive(settings)))


def materialize(df: DataFrame) -> DataFrame:
    """Cut a frame's lineage where several outputs read it.

    Like ``persist()``, the frame is computed once (at the first action that needs it) and kept
    on the executors; unlike it, every later query plans against a small leaf instead of
    re-analysing the whole chain behind it, which for plans of hundreds of operators (silver,
    gold browsing) is a large share of each write. The blocks are Spark's local checkpoint: an
    executor lost mid-job fails the job, and the task's retry recomputes it (jobs are
    idempotent). They are released once the frame is no longer referenced.
    """
    return df.localCheckpoint(eager=False)
