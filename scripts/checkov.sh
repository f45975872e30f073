#!/usr/bin/env bash
# checkov over infra/terraform, in its own virtual environment (.venv-checkov):
# checkov pins an old boto3 that must not meet the project's venv.
# Fails on any failed check; a check is waived only inline, with its reason:
#   # checkov:skip=CKV_AWS_xxx:why this does not apply
# Usage: bash scripts/checkov.sh   (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-checkov
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
if [ ! -x "$VENV/bin/checkov" ] || ! "$VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "checkov==$CHECKOV_VERSION"
fi
exec "$VENV/bin/checkov" --directory infra/terraform --framework terraform \
  --quiet --compact --skip-download
