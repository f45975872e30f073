# PetroStream: `make demo` runs the pipeline, `make test` runs every check and test.
# Each target installs what it needs from the committed locks (uv.lock, and
# tools/checkov/uv.lock for checkov) and fails when a lock is stale against its
# pyproject.toml: the lock decides every version, on every machine, any day.

PYTHON     ?= python3
UV_VERSION := 0.13.9
VENV       ?= .venv
BIN         = $(VENV)/bin
# uv itself, pinned, in a private folder (any uv already on PATH is not used).
UV         ?= .venv-uv/bin/uv

# uv builds the environments with this machine's Python and never downloads one.
export UV_PYTHON           := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set, an import of
# pyiceberg + SQLAlchemy would compile ~4 s of source in every new process.
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT = $(abspath $(VENV))

STALE = { echo "make: installing from the lock failed (above). If uv says the lock needs \
updating, pyproject.toml changed: run 'make lock', review and commit the lock." >&2; exit 1; }

.PHONY: demo test test-fast lint checkov format system-deps bench lock lock-upgrade \
	outdated sync-demo sync-dev clean

$(UV):
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install -qq --disable-pip-version-check --target .venv-uv "uv==$(UV_VERSION)"

# Exact sync for the test environment (the same package list everywhere); the demo
# sync only adds what it lacks, so a developer's tools stay installed.
sync-demo: | $(UV)
	@$(UV) sync --quiet --locked --no-dev --extra dashboard --inexact || $(STALE)

sync-dev: | $(UV)
	@$(UV) sync --quiet --locked --extra dashboard || $(STALE)

demo: sync-demo
	$(BIN)/petrostream demo

lint: sync-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# checkov runs in its own environment (.venv-checkov): it pins an older boto3.
checkov: | $(UV)
	@UV="$(UV)" bash scripts/checkov.sh || exit 1

format: sync-dev
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

# Everything CI runs. The infra test applies the Terraform stack against moto with the
# offline provider mirror; its location comes from PETROSTREAM_TF_PLUGIN_DIR, else it is
# looked up.
test: lint checkov system-deps
	PETROSTREAM_TF_PLUGIN_DIR="$${PETROSTREAM_TF_PLUGIN_DIR:-$$(bash scripts/find-tf-mirror.sh)}" \
	  $(BIN)/pytest

# The tier a developer runs every few minutes: unit, contract and functional tests
# without terraform, Chromium, the moto server or the slow crash tests (markers infra,
# browser, aws, slow).
test-fast: sync-dev
	$(BIN)/pytest -m "not slow and not infra and not browser and not aws" tests/unit tests/contract tests/functional

bench: sync-dev
	$(BIN)/python benchmarks/run.py

# Re-resolve the locks after editing a pyproject.toml (keeps every other pin).
lock: | $(UV)
	$(UV) lock
	$(UV) lock --project tools/checkov

# Move every locked package to its newest release allowed by pyproject.toml; then
# run `make test` and commit the locks if it passes.
lock-upgrade: | $(UV)
	$(UV) lock --upgrade
	$(UV) lock --upgrade --project tools/checkov

# Which locked packages have newer releases (nothing is changed).
outdated: sync-dev
	@$(UV) pip list --outdated --python $(BIN)/python

clean:
	rm -rf $(VENV) .venv-checkov .venv-uv .petrostream .pytest_cache .mypy_cache .ruff_cache
