# detak — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
JARS := .cache/ivy/.prefetched
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test test-fast lint format bench airflow clean

setup: $(STAMP) $(JARS)

# The virtualenv and the project (editable, with test tools). uv resolves the large Airflow
# dependency tree several times faster than pip; it comes from PyPI like everything else.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[dev]"
	@touch $@

# Delta Lake and JDBC jars: resolved once by Spark from Maven Central into .cache/ivy, then
# served from there with no network.
$(JARS): $(STAMP) conf/base.yaml
	$(BIN)/detak prefetch
	@touch $@

demo: setup
	$(BIN)/detak demo

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not integration"

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
