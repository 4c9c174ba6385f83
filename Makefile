# Two commands on a fresh machine: `make demo` and `make test`. Only Python 3.11 and make
# are assumed; uv is installed through pip when missing, and it never downloads a Python.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.synced
# uv, when the machine has none, goes into a small venv of its own: a system Python may refuse
# `pip install` outside a venv (PEP 668), and uv must not live in the venv it syncs.
TOOLS := .tools
export UV_PYTHON_DOWNLOADS := never
RUN = $(VENV)/bin/python

.PHONY: setup demo test lint format up down clean

setup: $(STAMP)

$(STAMP): pyproject.toml uv.lock sdk/pyproject.toml
	@command -v uv >/dev/null 2>&1 || test -x $(TOOLS)/bin/uv \
		|| ($(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv)
	$$(command -v uv || echo $(TOOLS)/bin/uv) sync --frozen --python $(PYTHON)
	@touch $@

demo: setup
	$(RUN) -m meta_agent demo

test: setup
	$(RUN) -m pytest

lint: setup
	$(RUN) -m ruff check .
	$(RUN) -m ruff format --check .
	$(RUN) -m mypy meta_agent api realtime dagster_project sdk/src bench
	$(VENV)/bin/sqlfluff lint dbt/models

format: setup
	$(RUN) -m ruff check --fix .
	$(RUN) -m ruff format .

up: setup
	$(RUN) -m meta_agent up

down: setup
	$(RUN) -m meta_agent down

clean: down
	rm -rf .meta_agent
