"""A real Spark standalone cluster for the tests of this folder: a master and two workers on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.standalone import Cluster, standalone


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Master and two 1-core, 1 GiB workers from pyspark's jars; stopped (process groups killed) at the end."""
    with standalone(tmp_path_factory.mktemp("standalone"), workers=2, cores=1, memory="1g") as running:
        yield running
