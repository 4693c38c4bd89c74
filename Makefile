# One entry point for contributors: `make check` = lint + types + the whole test suite.
PY ?= python3

.PHONY: install check lint types test bench

install:
	$(PY) -m pip install -e '.[dev]'

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest

check: lint types test
