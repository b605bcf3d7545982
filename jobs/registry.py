"""The registry of detak's jobs, their CLI verbs and the tables they read and write.

It is the single source of the pipeline's graph: the Airflow DAGs build their tasks from it and
the CLI runs the same verbs, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.common.contracts import event_sources


@dataclass(frozen=True)
class Job:
    name: str
    group: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str

    @property
    def task_id(self) -> str:
        return self.name.replace(".", "_").replace("-", "_")


def jobs(group: str | None = None) -> list[Job]:
    """Every job, or those of one group (``ingest``), in a stable order."""
    registry = [
        Job(
            name=f"ingest_{source}",
            group="ingest",
            args=("ingest", "--source", source),
            inputs=(f"landing/{source}",),
            outputs=(f"bronze.{source}_events", "bronze.quarantine", "bronze.ingest_runs"),
            description=f"New {source} landing files → bronze.{source}_events, bad lines → bronze.quarantine.",
        )
        for source in event_sources()
    ]
    return [j for j in registry if group is None or j.group == group]
