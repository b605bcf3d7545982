"""The ``detak`` command line: parse, run the verb, and report a mistake in one line.

The verbs that run jobs live in jobs.commands, where Airflow's in-process tasks run them too. This
module adds what only a person at a terminal needs: the verbs that drive Airflow itself (``demo``,
``airflow``), logging, ``--version`` and error reporting. A :class:`~jobs.common.errors.UserError`
(a bad date, a missing file, an unknown job, source, table or target, a setting that does not
exist) prints ``detak: error: <message>`` on one line and exits with status 2; any other exception
is a failed job: one line, status 1. ``-v`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from jobs.commands import VERBS, _no_args, build_parser, parse, run, verb
from jobs.common.config import settings
from jobs.common.errors import UserError

__all__ = ["VERBS", "build_parser", "main", "verb"]

#: Exit statuses: a job that failed, and a mistake in what the user asked for (argparse's own).
FAILED, USER_ERROR = 1, 2


@verb("demo", "a week around 11.11 through Airflow into the warehouse: per-day summary and HTML report")(_no_args)
def _demo(args: argparse.Namespace) -> int:
    from jobs.demo import demo

    return demo()


def _airflow_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("airflow_args", nargs=argparse.REMAINDER, help="arguments for the airflow command")


@verb("airflow", "run the airflow command on detak's DAGs, home and Spark connection")(_airflow_args)
def _airflow(args: argparse.Namespace) -> int:
    import os
    import shutil

    from jobs.orchestration.airflow import airflow_environ

    env = airflow_environ(settings())
    exe = shutil.which("airflow", path=env["PATH"])
    if exe is None:
        raise UserError("airflow is not installed in this environment (make setup installs it)")
    os.execve(exe, [exe, *args.airflow_args], env)


def _report(message: str, verbose: bool) -> None:
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(f"detak: error: {' '.join(message.split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Read before parsing: a command line that does not parse still honours -v.
    verbose = any(a in ("-v", "--verbose") for a in argv)
    command = "detak"
    try:
        args = parse(argv)
        verbose, command = bool(args.verbose), f"detak {args.verb}"
        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        return run(args)
    except UserError as e:
        _report(str(e), verbose)
        return USER_ERROR
    except KeyboardInterrupt:
        _report("interrupted", verbose)
        return 130
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        hint = "" if verbose else " (-v shows the traceback)"
        _report(f"{command} failed: {type(e).__name__}{': ' + first if first else ''}{hint}", verbose)
        return FAILED


if __name__ == "__main__":
    raise SystemExit(main())
