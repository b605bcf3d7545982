"""Kafka as a landing transport: a topic per source instead of (or as well as) a landing folder.

A source with a topic in ``ingest.kafka.topics`` is read by Spark's Kafka source; each record's
value is one landing line, in the source's format. Everything after the read is the file path's
own (:mod:`jobs.bronze.ingest`): the same validation, the same bronze, quarantine and metrics
tables, the same idempotent Delta writes per micro-batch, so a batch replayed after a crash
lands once.

What stands for a file is a *partition range*: the records of one topic partition in one
micro-batch. Its name, ``kafka://<topic>/<partition>/<first offset>-<last offset>``, is the
``_source_file`` of each of its rows (``_line`` is the record's offset) and the ``path`` of its
row in ``bronze.ingest_files``, so every record is accounted for there as a file's lines are.

Checkpoint safety: a lost or reset checkpoint makes Spark start the topic again from
``startingOffsets`` (earliest). The records the ledger shows as ingested are then skipped and
counted as such, so nothing is ingested twice; and the checkpoint's new id keeps Delta from
skipping the new batches (see :func:`jobs.bronze.ingest.checkpoint_id`). Records Kafka deleted
before they were read (retention) stop the query with Spark's ``failOnDataLoss`` error, never
silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.bronze.landing import append_line, landing_folder, line_of
from jobs.common.config import Settings
from jobs.common.errors import UserError
from jobs.common.tables import read_table

SCHEME = "kafka://"


def topic_of(source: str, settings: Settings) -> str | None:
    """The topic ``source`` reads, when it reads Kafka (``ingest.kafka.topics``)."""
    topic = (settings["ingest"]["kafka"].get("topics") or {}).get(source)
    return str(topic) if topic else None


def client_options(settings: Settings, bootstrap: str | None = None) -> dict[str, str]:
    """``kafka.*`` options of Spark's Kafka source and sink: the servers and the user's own (security)."""
    kafka = settings["ingest"]["kafka"]
    servers = str(bootstrap or kafka["bootstrap_servers"] or "")
    if not servers:
        raise UserError("ingest.kafka.bootstrap_servers is empty: set it (DETAK__INGEST__KAFKA__BOOTSTRAP_SERVERS)")
    out = {"kafka.bootstrap.servers": servers}
    out.update({str(k): str(v) for k, v in (kafka.get("options") or {}).items()})
    return out


def read_stream(spark: SparkSession, topic: str, settings: Settings) -> DataFrame:
    """The streaming DataFrame of ``topic``'s records (key, value, topic, partition, offset, timestamp...)."""
    kafka = settings["ingest"]["kafka"]
    reader = spark.readStream.format("kafka").option("subscribe", topic)
    reader = reader.option("startingOffsets", "earliest")
    reader = reader.option("maxOffsetsPerTrigger", int(kafka["max_offsets_per_trigger"]))
    # Records deleted by retention before they were read stop the query: never a silent loss.
    reader = reader.option("failOnDataLoss", "true")
    for key, value in client_options(settings).items():
        reader = reader.option(key, value)
    return reader.load()


def range_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"{SCHEME}{topic}/{partition}/{first}-{last}"


def ranges(records: DataFrame) -> dict[tuple[str, int], dict[str, Any]]:
    """Per topic partition of a micro-batch: its offsets, records, bytes and latest record time."""
    rows = (
        records.groupBy("topic", "partition")
        .agg(
            F.min("offset").alias("first"),
            F.max("offset").alias("last"),
            F.count("*").alias("records"),
            F.sum(F.coalesce(F.length("value"), F.lit(0))).alias("bytes"),
            F.max("timestamp").alias("latest"),
        )
        .collect()  # bounded: one row per topic partition
    )
    return {
        (r["topic"], int(r["partition"])): {
            "path": range_name(r["topic"], int(r["partition"]), int(r["first"]), int(r["last"])),
            "records": int(r["records"]),
            "bytes": int(r["bytes"] or 0),
            "latest": r["latest"],
        }
        for r in rows
    }


def ingested_offsets(
    spark: SparkSession, source: str, topic: str, settings: Settings, files_table: str
) -> dict[int, int]:
    """Per partition of ``topic``, the last offset ``source`` has in its ledger (after a checkpoint loss)."""
    prefix = f"{SCHEME}{topic}/"
    parts = F.split(F.expr(f"substring(path, {len(prefix) + 1})"), "/")
    rows = (
        read_table(spark, files_table, settings)
        .where((F.col("source") == source) & F.col("path").startswith(prefix))
        .select(parts[0].cast("int").alias("partition"), F.split(parts[1], "-")[1].cast("long").alias("last"))
        .groupBy("partition")
        .agg(F.max("last").alias("last"))
        .collect()  # bounded: one row per partition of the topic
    )
    return {int(r["partition"]): int(r["last"]) for r in rows}


def skip_ingested(records: DataFrame, done: dict[int, int]) -> DataFrame:
    """The records after the offsets of ``done`` (partition → last offset ingested)."""
    if not done:
        return records
    last = F.coalesce(
        F.element_at(F.create_map(*[x for p, o in done.items() for x in (F.lit(p), F.lit(o))]), F.col("partition")),
        F.lit(-1),
    )
    return records.where(F.col("offset") > last)


def record_decoder(
    names: dict[tuple[str, int], str], max_line_bytes: int, prefix_bytes: int, schema: pa.Schema, chunk_rows: int
) -> Any:
    """The ``mapInArrow`` function: records (topic, partition, offset, value) → line rows of ``schema``
    (the ingest's decoded-line schema), at most ``chunk_rows`` per Arrow batch."""
    _ARROW, _CHUNK = schema, chunk_rows

    def decode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for rb in batches:
            topics = rb.column("topic").to_pylist()
            partitions = rb.column("partition").to_pylist()
            offsets = rb.column("offset").to_pylist()
            values = rb.column("value").to_pylist()
            for start in range(0, len(offsets), _CHUNK):
                chunk: dict[str, list[object]] = {name: [] for name in _ARROW.names}
                for i in range(start, min(start + _CHUNK, len(offsets))):
                    ln = line_of(int(offsets[i]), values[i] or b"", max_line_bytes, prefix_bytes)
                    append_line(chunk, names[(topics[i], int(partitions[i]))], ln)
                yield pa.RecordBatch.from_pydict(chunk, schema=_ARROW)

    return decode


def produce(
    spark: SparkSession, source: str, settings: Settings, topic: str | None = None, bootstrap: str | None = None
) -> tuple[str, int]:
    """Replay ``source``'s landing files into its topic, one record per line; the topic and lines sent.

    For tests and demos: the lines are split on ``\\n`` as ingestion splits files; files Spark
    cannot read are left out (ingesting the folder quarantines them).
    """
    topic = topic or topic_of(source, settings) or f"{settings['ingest']['kafka']['topic_prefix']}{source}"
    folder = landing_folder(source, settings)
    if "://" not in folder and not Path(folder).is_dir():
        raise UserError(f"no landing folder for {source}: {folder}")
    lines = (
        spark.read.option("recursiveFileLookup", "true")
        .option("pathGlobFilter", str(settings["ingest"]["file_glob"]))
        .option("ignoreCorruptFiles", "true")
        .option("lineSep", "\n")
        .text(folder)
        # A line's order within its file is kept in its partition; files spread over partitions.
        .select(F.input_file_name().alias("key"), "value")
        .persist()
    )
    try:
        sent = lines.count()
        writer = lines.write.format("kafka").option("topic", topic)
        for key, value in client_options(settings, bootstrap).items():
            writer = writer.option(key, value)
        writer.save()
    finally:
        lines.unpersist()
    return topic, sent
