# Two commands for a fresh clone: `make run` and `make test`. See README.md.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# The local demo runs with DEBUG on and SQLite unless the environment (or .env) says otherwise;
# the tests run with the settings' own defaults.
run ingest: export DJANGO_DEBUG ?= 1

.PHONY: run test lint format ingest migrate clean loadtest bench bench-quick

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py rebuild_rollups
	$(BIN)/python manage.py register_units
	$(BIN)/python manage.py ingest_meters --all --fallback-dir data/challenge
	$(BIN)/python manage.py demo_community --url http://$(HOST):$(PORT)
	$(BIN)/python manage.py demo_login --url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/pytest

# A minute of load by several users against gunicorn with production settings, on loopback;
# not part of `make test`. Needs PostgreSQL on 127.0.0.1:5432 and Debian's wrk (docs/RELIABILITY.md).
loadtest: $(VENV)/.installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	env -u DJANGO_DEBUG $(BIN)/python loadtest/run.py

# The performance benchmarks of docs/BENCHMARKS.md (bench/README.md): ingest of 1M readings vs
# PostgreSQL's COPY, queries on 35M readings vs raw SQL, wrk, the report page. Not part of
# `make test`; PostgreSQL on 127.0.0.1:5432 and wrk needed. bench-quick: small sizes, a minute.
bench bench-quick: $(VENV)/.installed-dev
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	env -u DJANGO_DEBUG $(BIN)/python -m bench.run $(if $(filter bench-quick,$@),--quick)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ingest: $(VENV)/.installed
	$(BIN)/python manage.py ingest_meters --all --fallback-dir data/challenge

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
