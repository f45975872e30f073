#!/usr/bin/env bash
# checkov over infra/terraform, in its own environment (.venv-checkov) installed from
# tools/checkov/uv.lock: checkov pins an older boto3 that must not meet the project's.
# Fails on any failed check; a check is waived only inline, with its reason:
#   # checkov:skip=CKV_AWS_xxx:why this does not apply
# Usage: bash scripts/checkov.sh   (UV=path/to/uv; `make checkov` passes its pinned uv)
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
UV_PROJECT_ENVIRONMENT="$PWD/.venv-checkov" UV_PYTHON_DOWNLOADS=never \
  "$UV" sync --quiet --locked --project tools/checkov || {
  echo "checkov: installing from tools/checkov/uv.lock failed (above); if the lock is stale, run 'make lock'" >&2
  exit 1
}
exec .venv-checkov/bin/checkov --directory infra/terraform --framework terraform \
  --quiet --compact --skip-download
