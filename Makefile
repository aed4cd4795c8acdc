# The two commands: `make demo` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports security pytest peers browser-js bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

peers:
	./scripts/install-peers.sh

# sm-crypto's browser build for the bidder page (browser/package-lock.json), from the npm registry
browser-js:
	./scripts/install-browser-js.sh

demo: $(STAMP) browser-js
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

pytest: $(STAMP) peers browser-js
	$(BIN)/pytest

test: lint typecheck imports security pytest

bench: $(STAMP)
	$(BIN)/python bench/gm.py
	$(BIN)/python bench/procurement.py

clean:
	rm -rf $(VENV) tests/interop/node/node_modules browser/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
