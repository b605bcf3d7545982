"""Fault injection: the real ``detak`` CLI in a subprocess, killed with SIGKILL at random moments.

A *step* is one CLI call (ingest, the daily run, publish to a target, forget) and the stage of it
the kills aim at. :func:`run_step` starts it in its own process group and, when asked, waits for
the stage's marker line (the Spark session is up and that stage has begun: ``detak run`` prints one
per job) plus a random delay within the stage's usual duration,
then kills the whole group (the Python process and its JVM) with SIGKILL: the job dies wherever
it is, mid-write, mid-commit, mid-swap. The next attempt of the same step must then finish the
work as if nothing had happened.

:func:`inject` runs a list of steps, each killed ``kills`` times before one attempt is let run to
the end, and returns what happened, for the tests (tests/faults/test_kills.py) and for ``make
bench`` (a longer soak whose figures docs/RELIABILITY.md shows).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    #: Seconds the stage usually runs after its ``marker`` line; kills land within 1.2 times that.
    duration: float
    env: tuple[tuple[str, str], ...] = ()
    #: The output line the kill timer starts from: a stage of ``detak run`` (``"silver: started"``)
    #: or a verb's own ``started`` line.
    marker: str = "started"
    #: Whether an attempt is let run to the end after the kills; a step that shares its command with
    #: the next step (a later stage of the same ``detak run``) leaves that to the next one.
    finish: bool = True


@dataclass
class Attempt:
    step: str
    killed: bool
    after_started: float | None
    exit_code: int | None
    seconds: float


@dataclass
class Outcome:
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def kills(self) -> int:
        return sum(1 for a in self.attempts if a.killed)

    def kills_by_step(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.attempts:
            if a.killed:
                out[a.step] = out.get(a.step, 0) + 1
        return out


def environ(home: Path, extra: Mapping[str, str] = ()) -> dict[str, str]:  # type: ignore[assignment]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DETAK", "AIRFLOW"))}
    return {**base, "DETAK_HOME": str(home), "DETAK_ENV": "ci", "PYTHONPATH": str(REPO), **dict(extra)}


def run_step(home: Path, step: Step, kill_at: float | None, log: Path, timeout: float = 600) -> Attempt:
    """Run ``step`` once; with ``kill_at``, SIGKILL it that many seconds after its ``started`` line
    (or when it ends first, whichever comes first)."""
    t0 = time.monotonic()
    started = threading.Event()
    with log.open("a") as out:
        out.write(f"\n=== {step.name} kill_at={kill_at}\n")
        out.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs", *step.argv],
            cwd=REPO,
            env=environ(home, dict(step.env)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
        assert proc.stdout is not None

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if step.marker in line:
                    started.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        killed = False
        after = None
        if kill_at is not None:
            while not started.wait(0.05):
                if proc.poll() is not None or time.monotonic() - t0 > timeout:
                    break
            if started.is_set():
                mark = time.monotonic()
                while proc.poll() is None and time.monotonic() - mark < kill_at:
                    time.sleep(0.02)
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    after = time.monotonic() - mark
        try:
            code = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        reader.join(timeout=5)
    return Attempt(step.name, killed, after, None if killed else code, time.monotonic() - t0)


def inject(home: Path, steps: Sequence[tuple[Step, int]], seed: int, log: Path) -> Outcome:
    """Each step killed ``kills`` times at random moments, then run to the end (which must succeed)."""
    rng = random.Random(seed)
    outcome = Outcome()
    for step, kills in steps:
        for _ in range(kills):
            outcome.attempts.append(run_step(home, step, rng.uniform(0.0, 1.2 * step.duration), log))
        if not step.finish:
            continue
        final = run_step(home, step, None, log)
        outcome.attempts.append(final)
        if final.exit_code != 0:
            raise AssertionError(f"{step.name} failed after {kills} kills (exit {final.exit_code}); see {log}")
    return outcome
