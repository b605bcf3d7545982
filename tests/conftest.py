"""One Spark session for the whole run (local[2], 2 shuffle partitions, Delta, no UI)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings, load_settings
from jobs.common.spark import get_spark

# py4j logs "closing connection" from finalizers after pytest has closed its streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "public"


def ci_settings(home: Path, **overrides: object) -> Settings:
    """CI settings rooted at ``home``, ignoring the caller's DETAK__* variables."""
    return load_settings("ci", environ={"DETAK_HOME": str(home)}, overrides=overrides or None)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    conf = ci_settings(tmp_path_factory.mktemp("spark_home"))
    session = get_spark(conf, app_name="detak-tests")
    yield session
    session.stop()


@pytest.fixture
def conf(tmp_path: Path) -> Settings:
    """Settings whose landing, lake and checkpoints live in this test's own folder."""
    return ci_settings(tmp_path / "home")
