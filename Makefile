# One entry point for contributors: `make check` = lint + types + import contracts + the whole
# test suite.
PY ?= python3

.PHONY: install check lint types contracts test bench

install:
	$(PY) -m pip install -e '.[dev]'

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types:
	$(PY) -m mypy

contracts:  # [tool.importlinter] in pyproject.toml, drawn in docs/architecture.md
	$(PY) -c 'import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())'

test:
	$(PY) -m pytest

check: lint types contracts test
