"""Leases: one writer per lake table (and per warehouse) at a time, whoever starts it.

Delta's optimistic concurrency keeps two commits from corrupting a table, but not two *jobs* from
doing the same work twice or a zero-retention VACUUM from deleting files another job has written
and not yet committed. A job therefore holds a lease on every table it writes for as long as it
runs (Airflow pools keep the scheduler from starting such tasks together; leases also cover the
CLI, a manual backfill and the weekly maintenance). Readers never need one: Delta gives them a
snapshot.

A lease is a small file ``<paths.locks>/<name>.lease`` created atomically (``O_EXCL``) with its
holder (job, run id, host, pid) and an expiry that a background thread pushes forward while the
holder lives. A lease is free when its file is gone, its expiry has passed, or its holder was a
process on this host that no longer exists (a job killed with SIGKILL frees its leases at once for
the next run on the same host). A job that finds a lease held waits up to ``locks.wait_seconds``,
then fails with one line naming the holder. The folder must be shared by every host that writes
the lake (a shared file system); on object storage without one, rely on Airflow pools alone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs.common.config import Settings

log = logging.getLogger(__name__)


class LeaseBusy(RuntimeError):
    """Another job holds a lease this one needs, and did not release it in time."""


def _folder(settings: Settings) -> Path:
    return Path(str(settings["paths"]["locks"]))


def _file(settings: Settings, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return _folder(settings) / f"{safe}.lease"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the holder may still be running: it has not expired, and if it ran on this host, its
    process still exists."""
    if float(holder.get("expires", 0)) < time.time():
        return False
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, KeyError, ValueError):
            return True
    return True


def describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "an unknown holder"
    since = datetime.fromtimestamp(float(holder.get("acquired", 0)), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f"run {holder.get('run_id')}, pid {holder.get('pid')} on {holder.get('host')}"
    return f"{holder.get('job')} ({who}, since {since})"


class Lease:
    """One held lease; :func:`hold` makes and releases them."""

    def __init__(self, settings: Settings, name: str, job: str, run_id: str, ttl: float) -> None:
        self.path = _file(settings, name)
        self.name, self.ttl = name, ttl
        self.token = uuid.uuid4().hex
        self.record = {
            "lease": name,
            "job": job,
            "run_id": run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "acquired": time.time(),
        }

    def _content(self) -> str:
        return json.dumps({**self.record, "expires": time.time() + self.ttl})

    def try_acquire(self) -> dict[str, Any] | None:
        """Take the lease if it is free; return None on success, else the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read(self.path)
                if holder is not None and _alive(holder):
                    return holder
                # Free: expired, or its process is gone. Rename it away (only one taker succeeds).
                try:
                    os.replace(self.path, self.path.with_name(f".{self.path.name}.stale.{uuid.uuid4().hex[:8]}"))
                    log.warning("lease %s: took over from %s, which is no longer running", self.name, describe(holder))
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self._content())
            return None
        return _read(self.path)

    def renew(self) -> bool:
        """Push the expiry forward; False when the lease is no longer ours."""
        holder = _read(self.path)
        if holder is None or holder.get("token") != self.token:
            return False
        tmp = self.path.with_name(f".{self.path.name}.{self.token}")
        tmp.write_text(self._content())
        os.replace(tmp, self.path)
        return True

    def release(self) -> None:
        holder = _read(self.path)
        if holder is not None and holder.get("token") == self.token:
            self.path.unlink(missing_ok=True)
        for stale in self.path.parent.glob(f".{self.path.name}.stale.*"):
            stale.unlink(missing_ok=True)


@contextmanager
def hold(
    settings: Settings,
    names: Iterable[str],
    job: str,
    run_id: str = "",
    wait_seconds: float | None = None,
) -> Iterator[list[Lease]]:
    """Hold the leases ``names`` (tables, ``warehouse:<target>``) for the ``with`` block.

    Leases are taken in sorted order, so two jobs needing overlapping sets cannot deadlock. Waits up
    to ``wait_seconds`` (default ``locks.wait_seconds``) for each, then raises :class:`LeaseBusy`.
    """
    conf = settings["locks"]
    wait = float(conf["wait_seconds"]) if wait_seconds is None else float(wait_seconds)
    ttl = float(conf["ttl_seconds"])
    held: list[Lease] = []
    stop = threading.Event()
    try:
        for name in sorted(set(names)):
            lease = Lease(settings, name, job, run_id, ttl)
            deadline = time.monotonic() + wait
            announced = False
            while (holder := lease.try_acquire()) is not None:
                if time.monotonic() >= deadline:
                    raise LeaseBusy(f"{name} is being written by {describe(holder)}; {job} gave up after {wait:.0f} s")
                if not announced:
                    print(f"{job}: waiting for {name}, held by {describe(holder)}", flush=True)
                    announced = True
                time.sleep(min(1.0, max(0.05, wait / 20)))
            held.append(lease)

        def heartbeat() -> None:
            while not stop.wait(ttl / 3):
                for lease in held:
                    if not lease.renew():
                        log.error("lease %s was taken over while %s held it", lease.name, job)

        threading.Thread(target=heartbeat, name=f"lease-{job}", daemon=True).start()
        yield held
    finally:
        stop.set()
        for lease in reversed(held):
            lease.release()
