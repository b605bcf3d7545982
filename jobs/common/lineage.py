"""Job-level OpenLineage run events: each job's run with the tables it reads and writes.

A catalogue (Marquez, DataHub, OpenMetadata) learns what reads what from OpenLineage run events
(https://openlineage.io/spec/2-0-2/OpenLineage.json). Every job run through
:func:`jobs.registry.run` (the CLI, the Airflow tasks and the tests alike) appends a ``START`` and
then a ``COMPLETE`` or ``FAIL`` event to the file transport (``lineage.file``, one JSON event per
line), naming the lake tables the registry declares as the job's inputs and outputs.

The declarations, not the query plans, are the source here: Spark's OpenLineage listener
(``lineage.enabled``) sees each query and loses the inputs of a write whose frame went through a
local checkpoint (:func:`jobs.common.spark.materialize`), so silver's bronze inputs never appeared.
Datasets are named as the listener names them (namespace ``file`` or the URL's scheme and host, name
the table's path), with a ``symlinks`` facet giving the table's name, so both kinds of event meet
on the same datasets in a catalogue.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jobs.common.config import Settings

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("detak")
    except metadata.PackageNotFoundError:  # a checkout on PYTHONPATH that was never installed
        return "0+unknown"


#: Who wrote the events: a URI, as the spec asks (this package and its version).
PRODUCER = f"urn:detak:{_version()}"
_SYMLINKS = "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet"
#: detak's own run facet (the pipeline's run id beside OpenLineage's): named, not published as a schema.
_DETAK_RUN = "urn:detak:facets:DetakRunFacet"
_ERROR = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"


def dataset(name: str, settings: Settings) -> dict[str, Any]:
    """An OpenLineage dataset for lake table ``name`` (or ``landing/<source>``, a landing folder):
    namespace and name from its path."""
    from jobs.common.tables import table_path

    if name.startswith("landing/"):
        path = f"{str(settings['paths']['landing']).rstrip('/')}/{name.removeprefix('landing/')}"
    else:
        path = table_path(name, settings)
    url = urlparse(path)
    if url.scheme in ("", "file"):
        namespace, dataset_name = "file", url.path if url.scheme else path
    else:
        namespace, dataset_name = f"{url.scheme}://{url.netloc}", url.path.lstrip("/")
    kind = "DIRECTORY" if name.startswith("landing/") else "TABLE"
    symlink = {"namespace": str(settings["lineage"]["namespace"]), "name": name, "type": kind}
    facets = {"symlinks": {"_producer": PRODUCER, "_schemaURL": _SYMLINKS, "identifiers": [symlink]}}
    return {"namespace": namespace, "name": dataset_name, "facets": facets}


def _append(settings: Settings, event: dict[str, Any]) -> None:
    path = Path(str(settings["lineage"]["file"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    # One write of one line with O_APPEND: concurrent jobs never interleave their events.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def event(
    settings: Settings,
    kind: str,
    job: str,
    run_id: str,
    inputs: Iterable[str],
    outputs: Iterable[str],
    facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One RunEvent (``kind``: START, COMPLETE or FAIL) of ``job`` reading ``inputs`` and writing ``outputs``."""
    return {
        "eventType": kind,
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "run": {"runId": run_id, "facets": facets or {}},
        "job": {"namespace": str(settings["lineage"]["namespace"]), "name": job, "facets": {}},
        "inputs": [dataset(name, settings) for name in inputs],
        "outputs": [dataset(name, settings) for name in outputs],
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


@contextmanager
def job_run(
    settings: Settings, job: str, inputs: Iterable[str], outputs: Iterable[str], run_id: str | None = None
) -> Iterator[str]:
    """Emit START before the block and COMPLETE (or FAIL, with the error) after it, when
    ``lineage.job_events`` is on; yields the OpenLineage run id (a new UUID per run). The
    pipeline's own ``run_id`` (an Airflow run, a catch-up) goes in a ``detak_run`` run facet."""
    ins, outs = list(inputs), list(outputs)
    ol_run = str(uuid.uuid4())
    facets = {"detak_run": {"_producer": PRODUCER, "_schemaURL": _DETAK_RUN, "runId": run_id or ""}}
    if not settings["lineage"]["job_events"]:
        yield ol_run
        return
    _append(settings, event(settings, "START", job, ol_run, ins, outs, facets))
    try:
        yield ol_run
    except BaseException as exc:
        error = {
            "_producer": PRODUCER,
            "_schemaURL": _ERROR,
            "message": str(exc)[:2000],
            "programmingLanguage": "python",
        }
        _append(settings, event(settings, "FAIL", job, ol_run, ins, outs, {**facets, "errorMessage": error}))
        raise
    _append(settings, event(settings, "COMPLETE", job, ol_run, ins, outs, facets))
