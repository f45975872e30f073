# PetroStream: `make demo` runs the pipeline, `make test` runs the checks and tests.
# Each target builds what it needs from nothing (a virtual environment in .venv).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint checkov format system-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra set, rebuilt when pyproject.toml changes.
$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dashboard]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dashboard,dev]'
	touch $@

demo: $(VENV)/.demo
	$(BIN)/petrostream demo

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# checkov runs in its own venv (.venv-checkov): it pins an old boto3.
checkov:
	bash scripts/checkov.sh

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The browser test drives Debian's Chromium (Playwright never downloads a browser here).
# As root (CI, a fresh machine) it is installed with apt-get; elsewhere install it yourself.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (browser test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install chromium' (the browser test needs it)" >&2; \
	  fi; }

# The infra test applies the Terraform stack against moto with the offline provider
# mirror; its location comes from PETROSTREAM_TF_PLUGIN_DIR, else it is looked up.
test: lint checkov system-deps
	PETROSTREAM_TF_PLUGIN_DIR="$${PETROSTREAM_TF_PLUGIN_DIR:-$$(bash scripts/find-tf-mirror.sh)}" \
	  $(BIN)/pytest

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .venv-checkov .petrostream .pytest_cache .mypy_cache .ruff_cache
