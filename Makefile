# The two commands: `make demo` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports security pytest peers bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

peers:
	./scripts/install-peers.sh

demo: $(STAMP)
	./scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

security: $(STAMP)
	$(BIN)/bandit -q -c pyproject.toml -r src

pytest: $(STAMP) peers
	$(BIN)/pytest

test: lint typecheck imports security pytest

bench: $(STAMP)
	$(BIN)/python bench/gm.py
	$(BIN)/python bench/procurement.py

clean:
	rm -rf $(VENV) tests/interop/node/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
