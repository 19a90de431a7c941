# Two commands matter: `make run` (serve the portal on the embedded sandbox) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint pytest serve bench install clean sandbox sandbox-reset

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the declared dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

var:
	mkdir -p var

run: install var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The Venice sandbox over real HTTP (point VENICE_API_BASE at the URL it prints), sharing
# var/sandbox.json with `make run`; `make sandbox-reset` restores the seeded demo account.
SANDBOX_PORT ?= 8765
sandbox: install var
	$(BIN)/python manage.py venice_sandbox --port $(SANDBOX_PORT)

sandbox-reset: install var
	$(BIN)/python manage.py venice_sandbox --reset

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint pytest

# Production settings unless DJANGO_DEBUG says otherwise: needs DJANGO_SECRET_KEY (docs/deploy.md).
serve: export DJANGO_DEBUG ?= 0
serve: export HOST := $(HOST)
serve: export PORT := $(PORT)
serve: install var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput
	$(BIN)/gunicorn portal.wsgi --config portal/gunicorn.conf.py

# The benchmarks (bench/, not part of `make test`): a few minutes on 127.0.0.1, one table of
# figures against their targets, exit 1 when one is missed. `make bench BENCH_ARGS=keys` runs
# one suite; var/bench/ keeps the built million-record audit database between runs.
bench: install var
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
