"""The command line as a person meets it: a mistake is one line on stderr, never a traceback.

The first cases run the real CLI (``python -m jobs``) in a subprocess with the checkout on
PYTHONPATH and none of the caller's DETAK__* variables; the rest call :func:`jobs.cli.main` in this
process, which prints the same way for a fraction of the time. None of them starts Spark: every
mistake is caught before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.common.config import settings
from jobs.common.errors import UsageError, UserError
from jobs.registry import jobs

REPO = Path(__file__).resolve().parents[1]


def detak(*argv: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DETAK")}
    environ = {**base, "PYTHONPATH": str(REPO), "DETAK_ENV": "ci", "DETAK_HOME": str(home), **env}
    return subprocess.run(
        [sys.executable, "-m", "jobs", *argv], env=environ, capture_output=True, text=True, timeout=300, check=False
    )


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("detak: error: ")
    return lines[0].removeprefix("detak: error: ")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["job", "silver", "--date", "2026-11-31"],
            {},
            "argument --date: '2026-11-31' is not a date (YYYY-MM-DD) (see detak job --help)",
        ),
        (["import", "rees46", "{home}/missing.csv"], {}, "{home}/missing.csv: no such file (REES46 CSV)"),
        (
            ["job", "silvr", "--date", "2026-11-11"],
            {},
            "argument name: invalid choice: 'silvr' (choose from "
            + ", ".join(repr(j.name) for j in jobs() if j.group != "ingest")
            + ") (see detak job --help)",
        ),
        (
            ["ingest", "--source", "tiktok"],
            {},
            "argument --source: invalid choice: 'tiktok' (choose from 'clickstream', 'orders', 'search') "
            "(see detak ingest --help)",
        ),
        (
            ["job", "silver", "--date", "2026-11-11"],
            {"DETAK_ENV": "nope"},
            "DETAK_ENV='nope' has no conf file conf/nope.yaml (environments: ci, cluster, local, production)",
        ),
        (
            ["run", "--date", "2026-11-11"],
            {"DETAK_ENV": "production"},
            "DETAK_PSEUDONYM_KEY is not set: DETAK_ENV=production pseudonymises real people's ids and needs a "
            "secret key (export DETAK_PSEUDONYM_KEY=<32+ random bytes>; docs/PRIVACY.md)",
        ),
    ],
    ids=["bad-date", "missing-file", "unknown-job", "unknown-source", "unknown-env", "production-without-key"],
)
def test_a_user_error_is_one_line_and_status_2(
    tmp_path: Path, argv: list[str], env: dict[str, str], message: str
) -> None:
    result = detak(*[a.format(home=tmp_path) for a in argv], home=tmp_path, **env)
    assert result.returncode == 2
    assert one_error_line(result.stderr) == message.format(home=tmp_path)


def test_verbose_shows_the_traceback_then_the_line(tmp_path: Path) -> None:
    result = detak("-v", "import", "otto", str(tmp_path / "missing.jsonl"), home=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "jobs.common.errors.UserError" in result.stderr
    assert lines[-1] == f"detak: error: {tmp_path}/missing.jsonl: no such file (OTTO JSON lines)"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This process's environment as the subprocess gets it; the cached settings forgotten around it."""
    for name in list(os.environ):
        if name.startswith("DETAK"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DETAK_ENV", "ci")
    monkeypatch.setenv("DETAK_HOME", str(tmp_path))
    settings.cache_clear()
    yield tmp_path
    settings.cache_clear()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["job", "silver", "--date", "2026-11-11"],
            {"DETAK__SILVER__LATE_DAYZ": "2"},
            "unknown setting silver.late_dayz (in DETAK__SILVER__LATE_DAYZ); did you mean silver.late_days?",
        ),
        (
            ["job", "silver", "--date", "2026-11-11"],
            {"DETAK__SILVER__LATE_DAYS": "two"},
            "setting silver.late_days must be an integer, got 'two' (str) (in DETAK__SILVER__LATE_DAYS)",
        ),
        (
            ["job", "silver", "--date", "2026-11-11", "--since", "2026-11-12"],
            {},
            "--since 2026-11-12 is after --date 2026-11-11",
        ),
        (["run", "--from", "2026-11-12", "--to", "2026-11-11"], {}, "--to 2026-11-11 is before --from 2026-11-12"),
        (["sql", "SELECT 1", "--target", "oracle"], {}, "unknown warehouse target 'oracle'; known: duckdb, postgres"),
        (["forget"], {}, "give --user ID (repeatable) or --requests FILE"),
        (["forget", "--requests", "{home}/ids.txt"], {}, "--requests {home}/ids.txt: no such file"),
        (["import", "uci-retail", "{home}"], {}, "{home}: no .csv files"),
        (["import", "otto", "{home}"], {}, "{home} is a folder; give the OTTO JSON lines file"),
        ([], {}, "the following arguments are required: VERB (see detak --help)"),
        (["job", "silver"], {}, "the following arguments are required: --date (see detak job --help)"),
        (["demo", "--fast"], {}, "unrecognized arguments: --fast (see detak --help)"),
    ],
    ids=[
        "unknown-setting",
        "wrong-type",
        "since",
        "to-before-from",
        "target",
        "forget-nobody",
        "forget-file",
        "no-csv",
        "folder",
        "no-verb",
        "no-date",
        "bad-flag",
    ],
)
def test_more_user_errors_in_process(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main([a.format(home=home) for a in argv]) == 2
    assert one_error_line(capsys.readouterr().err) == message.format(home=home)


def test_an_unknown_table_in_a_query_is_the_users_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import duckdb

    (home / "warehouse").mkdir()
    duckdb.connect(str(home / "warehouse" / "detak.duckdb")).close()
    assert main(["sql", "SELECT * FROM gold.nope"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        'query failed: Catalog Error: Table with name "gold.nope" does not exist because schema "gold" does not exist.'
    )


def test_sql_on_duckdb_can_read_the_warehouse_and_nothing_else(
    home: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    (home / "warehouse").mkdir()
    with duckdb.connect(str(home / "warehouse" / "detak.duckdb")) as con:
        con.execute("CREATE SCHEMA gold; CREATE TABLE gold.t AS SELECT 7 AS n")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.csv").write_text("a\n1\n")
    assert main(["sql", "SELECT n FROM gold.t"]) == 0
    assert capsys.readouterr().out.split() == ["n", "7"]
    refused = {
        f"COPY gold.t TO '{outside}/out.csv'": "Permission Error",
        f"SELECT * FROM read_csv('{outside}/secret.csv')": "Permission Error",
        f"ATTACH '{outside}/other.duckdb'": "Permission Error",
        "SET enable_external_access = true": "Invalid Input Error",
        "INSERT INTO gold.t VALUES (8)": "Invalid Input Error",
    }
    for query, error in refused.items():
        assert main(["sql", query]) == 2, query
        assert one_error_line(capsys.readouterr().err).startswith(f"query failed: {error}: "), query
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]


def test_generate_and_import_refuse_to_replace_landing_files_without_force(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = home / "landing" / "clickstream" / "date=2026-11-11" / "hour=00" / "part-00000.jsonl.gz"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"ingested already")
    message = (
        f"{home}/landing already holds 1 landing files: {{}} would replace files that may have been ingested under "
        "the same names; give --force to replace them, or another --out"
    )
    argv = {
        "generate": ["generate", "--start", "2026-11-11", "--users", "3", "--no-progress"],
        "import": ["import", "otto", str(home / "missing.jsonl")],
    }
    for verb, args in argv.items():
        assert main(args) == 2
        assert one_error_line(capsys.readouterr().err) == message.format(verb)
    assert kept.read_bytes() == b"ingested already"
    # With --force the command goes ahead: the import to its own check of the input file.
    assert main([*argv["import"], "--force"]) == 2
    assert one_error_line(capsys.readouterr().err) == f"{home}/missing.jsonl: no such file (OTTO JSON lines)"


def test_a_failed_job_is_one_line_and_status_1(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "SELECT 1"]) == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"detak sql failed: PublishError: no DuckDB warehouse at {home}/warehouse/detak.duckdb yet: "
        "nothing has been published (-v shows the traceback)"
    )


def test_verbose_after_the_verb_too(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "SELECT 1", "-v"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):"
    assert err[-1] == (
        f"detak: error: detak sql failed: PublishError: no DuckDB warehouse at {home}/warehouse/detak.duckdb yet: "
        "nothing has been published"
    )


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr() == (f"detak {metadata.version('detak')}\n", "")


def test_airflow_tasks_get_the_error_itself_not_the_cli_line() -> None:
    """In-process Airflow tasks call the verbs' dispatch: errors propagate with their traceback."""
    from jobs.orchestration.airflow import run_cli

    with pytest.raises(UsageError, match="invalid choice: 'nope'"):
        run_cli(["job", "nope", "--date", "2026-11-11"])
    with pytest.raises(UserError, match="--since 2026-11-12 is after --date 2026-11-11"):
        run_cli(["job", "silver", "--date", "2026-11-11", "--since", "2026-11-12"])


@pytest.mark.parametrize("job", [j.name for j in jobs("daily") if j.name != "silver"])
def test_jobs_that_do_not_pseudonymise_start_without_the_key(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], job: str
) -> None:
    """Only silver needs DETAK_PSEUDONYM_KEY: every other job goes on to start Spark without it."""
    import jobs.common.spark

    def no_spark(*args: object, **kwargs: object) -> None:
        raise UserError("Spark would start here")

    monkeypatch.setenv("DETAK_ENV", "production")
    monkeypatch.setattr(jobs.common.spark, "get_spark", no_spark)
    settings.cache_clear()
    assert main(["job", job, "--date", "2026-11-11"]) == 2
    assert one_error_line(capsys.readouterr().err) == "Spark would start here"
