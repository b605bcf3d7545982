"""What detak's DAG files share: default arguments, Assets and Spark submission settings.

Everything here is cheap and free of side effects, so DAG files can call it at parse time: it
reads the YAML configuration and nothing else (no connections, variables or Spark sessions).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from jobs.common.config import Settings
from jobs.common.config import settings as current_settings
from jobs.common.spark import submit_kwargs

#: spark-submit's application: the ``detak`` CLI itself, so Airflow and the CLI run the same code.
ENTRYPOINT = str(Path(__file__).resolve().parents[1] / "__main__.py")

#: The date a daily run processes (YYYY-MM-DD): its logical date, or for a run started by Assets
#: (which has none in Airflow 3) the UTC day it was started on.
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"


def since_param(description: str) -> Any:
    """The ``since`` run parameter of a daily DAG: an optional date, empty by default."""
    from airflow.sdk import Param

    return Param(None, type=["null", "string"], format="date", description=description)


def default_args(conf: Settings | None = None) -> dict[str, Any]:
    conf = conf or current_settings()
    af = conf["airflow"]
    return {
        "owner": af["owner"],
        "retries": int(af["retries"]),
        "retry_delay": timedelta(minutes=float(af["retry_delay_minutes"])),
    }


def asset_uri(table_name: str) -> str:
    """A stable Asset name for a lake table, independent of where the lake lives."""
    return f"detak://{table_name.replace('.', '/')}"


def spark_task_kwargs(conf: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments for SparkSubmitOperator: connection, jars, Spark properties.

    On a cluster master the job's session ships detak's code to the executors itself
    (``jobs.common.spark.ship_jobs``).
    """
    conf = conf or current_settings()
    return {
        "application": ENTRYPOINT,
        "conn_id": conf["airflow"]["spark_conn_id"],
        **submit_kwargs(conf),
    }


def run_cli(argv: list[str]) -> None:
    """Run ``detak <argv>`` in this process (an in_process task); fail the task on a non-zero exit.

    It calls the verbs' dispatch (jobs.commands), not the CLI: an error propagates with its
    traceback into the task's log instead of being shortened to the CLI's one line.
    """
    from jobs.commands import dispatch

    code = dispatch(argv)
    if code:
        raise RuntimeError(f"detak {' '.join(argv)} exited with {code}")


def job_task(
    task_id: str,
    argv: list[str],
    *,
    outlets: list[Any] | None = None,
    inlets: list[Any] | None = None,
    doc_md: str,
    task_group: Any = None,
    conf: Settings | None = None,
    pool: str = "detak_lake",
) -> Any:
    """The Airflow task that runs ``detak <argv>`` (templated), as ``airflow.task_runner`` says.

    ``spark_submit`` submits the detak CLI through the Spark connection; ``in_process`` is a
    TaskFlow task calling the same CLI in the task's own process, so tasks sharing a process share
    one Spark session; ``spark_connect`` is the same TaskFlow task as a thin Spark Connect client
    of the long-lived server at ``spark.remote``, so every task of every run shares that server's
    JVM. Either way the task runs the same verb with the same arguments.
    """
    conf = conf or current_settings()
    runner = str(conf["airflow"]["task_runner"])
    common = {
        "task_id": task_id,
        "outlets": outlets or [],
        "inlets": inlets or [],
        "doc_md": doc_md,
        "task_group": task_group,
        "pool": pool,
    }
    if runner == "spark_submit":
        from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

        return SparkSubmitOperator(application_args=argv, **common, **spark_task_kwargs(conf))
    if runner == "spark_connect" and not conf["spark"].get("remote"):
        raise ValueError("airflow.task_runner spark_connect needs spark.remote (sc://host:port of the server)")
    if runner in ("in_process", "spark_connect"):
        from airflow.sdk import task

        return task(run_cli, **common)(argv)
    raise ValueError(f"airflow.task_runner must be spark_submit, in_process or spark_connect, not {runner!r}")


def announce_new_rows(source: str, ingest_run: str) -> str:
    """Succeed (and so update the task's Asset) only when the ingest run ``ingest_run`` (the DAG
    run's id; ``run_id`` itself is a reserved task argument) of ``source`` wrote bronze rows; skip
    otherwise, so downstream runs start only for new data."""
    import json

    from airflow.sdk.exceptions import AirflowSkipException

    from jobs.bronze.ingest import summary_path

    path = summary_path(current_settings(), source, ingest_run)
    if not path.exists():
        raise RuntimeError(f"ingest of {source} left no summary at {path}")
    summary = json.loads(path.read_text())
    if int(summary["valid"]) <= 0:
        raise AirflowSkipException(f"no new {source} rows in bronze: nothing to announce")
    return f"{summary['valid']} new rows in bronze.{source}_events"


def pool_commands(conf: Settings | None = None) -> list[list[str]]:
    """``airflow pools set`` argument lists that create (or resize) detak's pools from conf."""
    conf = conf or current_settings()
    return [
        ["pools", "set", name, str(int(spec["slots"])), str(spec["description"])]
        for name, spec in conf["airflow"]["pools"].items()
    ]


def ensure_pools(conf: Settings | None = None, env: dict[str, str] | None = None, log: Any = None) -> None:
    """Create (or resize) detak's Airflow pools in the metadata database of ``env``'s Airflow home."""
    import subprocess
    import sys

    env = env or airflow_environ(conf)
    airflow = str(Path(sys.executable).parent / "airflow")
    for args in pool_commands(conf):
        subprocess.run(
            [airflow, *args], env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True
        )


def airflow_environ(conf: Settings | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running Airflow on detak's DAGs: home, DAG folder, the Spark connection.

    A ``AIRFLOW_CONN_SPARK_DEFAULT`` already set (a team's cluster) wins over the one built from
    ``spark.master``.
    """
    import json
    import os
    import sys

    from jobs.common.config import REPO_ROOT

    conf = conf or current_settings()
    env = dict(os.environ if base is None else base)
    home = Path(conf["paths"]["airflow_home"])
    home.mkdir(parents=True, exist_ok=True)
    env.setdefault("AIRFLOW_HOME", str(home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    # `make airflow` is for one person on their machine: serve the UI on loopback only.
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    master = str(conf["spark"]["master"])
    conn: dict[str, Any] = {"conn_type": "spark", "host": master}
    scheme, _, rest = master.partition("://")
    if rest and ":" in rest:
        host, _, port = rest.rpartition(":")
        conn = {"conn_type": "spark", "host": f"{scheme}://{host}", "port": int(port)}
    env.setdefault(f"AIRFLOW_CONN_{str(conf['airflow']['spark_conn_id']).upper()}", json.dumps(conn))
    for key in ("DETAK_HOME", "DETAK_ENV"):
        if key not in env and key in os.environ:
            env[key] = os.environ[key]
    env.setdefault("DETAK_HOME", str(conf.home))
    return env
