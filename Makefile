# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test lint format check bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Gatehouse needs Python 3.11 or newer (set PYTHON=python3.x).")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

## make run: install, migrate, seed the demo, serve http://$(HOST):$(PORT) and
## run the task worker (mail, webhook deliveries) beside it
run: $(VENV)/.installed-run
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving Gatehouse on http://$(HOST):$(PORT)/ with its task worker (Ctrl-C stops both)"
	export WEBHOOKS_ALLOW_LOOPBACK=true; \
	$(BIN)/python manage.py db_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	USAGE_BACKGROUND_FLUSH=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

## make test: the whole suite (PYTEST_ARGS passes extra options)
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: load benchmark of the served-call path, appended to
## benchmarks/RESULTS.md (BENCH_ARGS passes options, e.g. BENCH_ARGS=--help).
## Needs PostgreSQL, Redis and wrk; it installs no system package (without wrk
## it stops and prints the apt-get command).
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
