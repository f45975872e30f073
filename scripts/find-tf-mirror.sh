#!/usr/bin/env bash
# Print the folder of an offline Terraform provider mirror that holds
# hashicorp/aws (the folder to give `terraform init -plugin-dir`), for
#   export PETROSTREAM_TF_PLUGIN_DIR="$(bash scripts/find-tf-mirror.sh)"
# Prints nothing (and exits 0) when there is none: the infra tests then skip with the reason.
set -euo pipefail
if [ -n "${PETROSTREAM_TF_PLUGIN_DIR:-}" ]; then
  echo "$PETROSTREAM_TF_PLUGIN_DIR"
  exit 0
fi
binary="$(find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
  -type f -path '*/registry.terraform.io/hashicorp/aws/*/terraform-provider-aws*' -print -quit 2>/dev/null || true)"
if [ -n "$binary" ]; then
  # <mirror>/registry.terraform.io/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_...
  echo "${binary%/registry.terraform.io/hashicorp/aws/*}"
fi
