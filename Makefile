# detak — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
JARS := .cache/ivy/.prefetched
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lock demo test test-fast soak lint format bench airflow clean

setup: $(STAMP) $(JARS)

# The virtualenv: exactly the versions uv.lock pins, plus the project itself (editable, so the
# `detak` command runs the checkout). Why uv's project lock rather than a compiled requirements
# file: one file pins every package for every platform with hashes, `uv sync` installs it, removes
# what the lock does not list and installs the project editable in one step, and `--locked` stops
# with "run uv lock" when pyproject.toml has changed since the lock was written, so two machines
# can never quietly resolve different Airflow or Spark versions. uv itself is pinned by the lock
# (dev extra); the first run installs that same version with pip, from PyPI like everything else.
# Upgrading a package is a reviewed change: `make lock` (or `uv lock --upgrade-package NAME`) and
# commit uv.lock (docs/development.md).
UV_VERSION = $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked --extra dev --python $(BIN)/python --quiet
	@touch $@

# Re-resolve uv.lock after a change to the dependencies in pyproject.toml; versions already locked
# stay unless a new requirement forbids them.
lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(BIN)/uv lock

# Delta Lake and JDBC jars: resolved once by Spark from Maven Central into .cache/ivy, then
# served from there with no network.
$(JARS): $(STAMP) conf/base.yaml
	$(BIN)/detak prefetch
	@touch $@

demo: setup
	$(BIN)/detak demo

# The suite CI runs, in two processes (docs/development.md, "The test suite"), with the daily DAG on
# a standalone cluster and over Spark Connect; its time is in bench/RESULTS.md ("Recorded outside
# make bench"; the target is 20 minutes). The `soak` tests run whole daily pipelines many times over
# (a simulated week day by day, SIGKILLs in every stage, Airflow end to end, ingest on the
# cluster): about an hour more, run by `make soak` before a release.
test: setup
	$(BIN)/pytest -q -m "not soak" -n 2 --dist loadfile --no-loadscope-reorder --durations=25

test-fast: setup
	$(BIN)/pytest -q -m "not integration and not soak"

soak: setup
	$(BIN)/pytest -q -m soak

lint: $(STAMP)
	$(BIN)/ruff check jobs dags tests bench
	$(BIN)/ruff format --check jobs dags tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix jobs dags tests bench
	$(BIN)/ruff format jobs dags tests bench

bench: setup
	$(BIN)/python bench/run.py

airflow: setup
	$(BIN)/detak airflow db migrate
	$(BIN)/python -c "from jobs.orchestration.airflow import ensure_pools; ensure_pools()"
	@echo "Airflow UI: http://localhost:8080 (user admin; password printed below and kept in $${DETAK_HOME:-var}/airflow/simple_auth_manager_passwords.json.generated)"
	$(BIN)/detak airflow standalone

clean:
	rm -rf var spark-warehouse metastore_db derby.log
