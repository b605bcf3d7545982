"""Kafka ingest throughput beside the file path's, on the same landing lines and the same session.

A simulated day is ingested twice: from its landing folders (the streaming file source), and from
topics that ``produce`` filled with the same lines, one record per line, on a single-node broker
on this machine (Apache Kafka's own jars, KRaft). Both use the same validation and Delta writes;
the rows they land must agree, and the bench checks they do.
"""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from jobs.bronze.ingest import ingest_source
from jobs.bronze.kafka import produce
from jobs.common.config import Settings, load_settings
from jobs.common.kafka_broker import Broker, free_port
from jobs.simulate import generate

SOURCES = ("clickstream", "search", "orders")


def _settings(home: Path, **overrides: Any) -> Settings:
    return load_settings("local", environ={"DETAK_HOME": str(home)}, overrides={"spark": {"ui": False}, **overrides})


def bench_kafka(spark: SparkSession, root: Path, day: date, users: int) -> dict[str, Any]:
    shutil.rmtree(root, ignore_errors=True)
    files = _settings(root / "files")
    generate(root / "files", day, 1, users, seed=11, settings=files, progress=False)
    rows: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        t = time.perf_counter()
        report = ingest_source(spark, source, files, run_id="bench-files")
        rows[source] = {"lines": report.lines, "valid": report.valid, "quarantined": report.quarantined,
                        "files_s": time.perf_counter() - t}  # fmt: skip
        print(f"kafka bench: {source} from files, {report.lines:,} lines in {rows[source]['files_s']:.1f}s", flush=True)
    with Broker(files, root / "broker", port=free_port(), partitions=2) as broker:
        topics = {s: f"bench.{s}" for s in SOURCES}
        kafka = _settings(root / "kafka", ingest={"kafka": {"bootstrap_servers": broker.bootstrap, "topics": topics}})
        for source in SOURCES:
            t = time.perf_counter()
            _, sent = produce(spark, source, files, topic=topics[source], bootstrap=broker.bootstrap)
            rows[source]["produce_s"] = time.perf_counter() - t
            rows[source]["sent"] = sent
            t = time.perf_counter()
            report = ingest_source(spark, source, kafka, run_id="bench-kafka")
            rows[source]["kafka_s"] = time.perf_counter() - t
            rows[source]["same"] = (report.lines, report.valid, report.quarantined) == (
                rows[source]["lines"], rows[source]["valid"], rows[source]["quarantined"])  # fmt: skip
            print(f"kafka bench: {source} from Kafka, {report.lines:,} records in {rows[source]['kafka_s']:.1f}s",
                  flush=True)  # fmt: skip
    return {"users": users, "day": str(day), "sources": rows}


def markdown(result: dict[str, Any], stamp: str) -> str:
    rows = result["sources"]
    lines = [
        "| source | lines | files: s | files: lines/s | produce: s | Kafka: s | Kafka: records/s | same rows |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    total = {"lines": 0, "files_s": 0.0, "produce_s": 0.0, "kafka_s": 0.0}
    for source, r in rows.items():
        for k in total:
            total[k] += r[k]
        lines.append(
            f"| {source} | {r['lines']:,} | {r['files_s']:.1f} | {r['lines'] / r['files_s']:,.0f} | "
            f"{r['produce_s']:.1f} | {r['kafka_s']:.1f} | {r['lines'] / r['kafka_s']:,.0f} | "
            f"{'yes' if r['same'] else 'NO'} |"
        )
    lines.append(
        f"| all | {total['lines']:,} | {total['files_s']:.1f} | {total['lines'] / total['files_s']:,.0f} | "
        f"{total['produce_s']:.1f} | {total['kafka_s']:.1f} | {total['lines'] / total['kafka_s']:,.0f} | |"
    )
    table = "\n".join(lines)
    return f"""## Kafka transport

Measured {stamp}. One simulated day ({result["day"]}, {result["users"]:,} users) ingested from its
landing folders, then replayed by `produce` into one topic per source (2 partitions) on a
single-node broker on this machine (KRaft, Apache Kafka's own jars) and ingested from the topics
(`ingest.kafka.topics`, `availableNow`, {500_000:,} records per micro-batch at most). Same session,
same validation and Delta writes; "same rows": the Kafka run's lines, valid and quarantined rows
equal the file run's. The broker shares the two cores with Spark.

{table}
"""
