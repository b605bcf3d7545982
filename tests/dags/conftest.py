from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One DagBag for the whole run, parsed with a throw-away AIRFLOW_HOME."""
    os.environ["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow_home"))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))
