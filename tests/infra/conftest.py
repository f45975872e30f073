"""Fixtures of the AWS-runtime tests: terraform, its offline provider mirror, the Lambda zip.

The provider mirror is found through the environment only:
``PETROSTREAM_TF_PLUGIN_DIR`` (what CI sets, see scripts/find-tf-mirror.sh),
else ``TF_PLUGIN_DIR``, else a ``filesystem_mirror`` or ``plugin_cache_dir`` in
the Terraform CLI configuration (``TF_CLI_CONFIG_FILE`` or ``~/.terraformrc``),
else Terraform's implied mirror folders under the home directory. Tests that
need terraform skip, with the reason, only when terraform or the mirror is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "infra" / "terraform"
AWS_PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"


def _has_aws_provider(folder: Path) -> bool:
    return any((folder / AWS_PROVIDER).glob("*/*/terraform-provider-aws*"))


def _cli_config_dirs() -> list[Path]:
    config = os.environ.get("TF_CLI_CONFIG_FILE") or str(Path.home() / ".terraformrc")
    try:
        text = Path(config).read_text()
    except OSError:
        return []
    found = re.findall(r'filesystem_mirror\s*\{[^}]*?path\s*=\s*"([^"]+)"', text, re.S)
    found += re.findall(r'plugin_cache_dir\s*=\s*"([^"]+)"', text)
    return [Path(os.path.expandvars(os.path.expanduser(f))) for f in found]


def find_plugin_dir() -> tuple[Path | None, str]:
    """The offline mirror holding hashicorp/aws, and where it was looked for."""
    candidates: list[Path] = []
    for var in ("PETROSTREAM_TF_PLUGIN_DIR", "TF_PLUGIN_DIR"):
        if os.environ.get(var):
            candidates.append(Path(os.environ[var]))
    candidates += _cli_config_dirs()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    candidates += [Path.home() / ".terraform.d" / "plugins", Path(xdg) / "terraform" / "plugins"]
    for folder in candidates:
        if _has_aws_provider(folder):
            return folder, ""
    looked = ", ".join(str(c) for c in candidates)
    return None, (
        "no offline mirror of the hashicorp/aws provider: set PETROSTREAM_TF_PLUGIN_DIR "
        f"(bash scripts/find-tf-mirror.sh finds one); looked in {looked}"
    )


def terraform_env() -> dict[str, str]:
    """The environment terraform runs with: no update checks, no prompts, no user config."""
    env = dict(os.environ)
    env.update(
        {
            "CHECKPOINT_DISABLE": "1",  # no call home to checkpoint-api.hashicorp.com
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "TF_CLI_CONFIG_FILE": os.devnull,  # the mirror is passed with -plugin-dir
        }
    )
    return env


@pytest.fixture(scope="session")
def terraform() -> str:
    """Path of the terraform binary (skips, with the reason, when it is absent)."""
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip(
            "terraform is not installed (https://developer.hashicorp.com/terraform/install)"
        )
    return binary


@pytest.fixture(scope="session")
def tf_plugin_dir() -> Path:
    """The offline provider mirror for `terraform init -plugin-dir` (skips when absent)."""
    folder, reason = find_plugin_dir()
    if folder is None:
        pytest.skip(reason)
    return folder


def run_tf(terraform: str, workdir: Path, *args: str, timeout: float = 300) -> str:
    """Run one terraform command in ``workdir``; fail the test with its output if it fails."""
    done = subprocess.run(
        [terraform, *args],
        cwd=workdir,
        env=terraform_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        output = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        pytest.fail(f"terraform {' '.join(args)} failed:\n{output}")
    return done.stdout


@pytest.fixture(scope="session")
def tf(terraform: str) -> Callable[..., str]:
    """``tf(workdir, *args)`` runs terraform there and returns its stdout (fails the test else)."""

    def run(workdir: Path, *args: str, timeout: float = 300) -> str:
        return run_tf(terraform, workdir, *args, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def tf_workdir(
    tmp_path_factory: pytest.TempPathFactory, tf: Callable[..., str], tf_plugin_dir: Path
) -> Path:
    """A private copy of infra/terraform, initialized once per session from the offline mirror.

    (``init`` hashes the ~700 MB provider binary: about 10 s, so it is done once.)
    """
    workdir = tmp_path_factory.mktemp("infra") / "terraform"
    shutil.copytree(
        TERRAFORM_DIR,
        workdir,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
    )
    tf(workdir, "init", "-input=false", "-no-color", "-plugin-dir", str(tf_plugin_dir))
    return workdir


@pytest.fixture(scope="session")
def tf_console(terraform: str, tf_workdir: Path) -> Callable[..., str]:
    """``tf_console(expression, **variables)``: what `terraform console` prints for it."""

    def console(expression: str, **variables: object) -> str:
        args = [f"-var={name}={value}" for name, value in variables.items()]
        done = subprocess.run(
            [terraform, "console", "-no-color", *args],
            cwd=tf_workdir,
            input=expression,
            env=terraform_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"terraform console {expression!r} failed:\n{done.stderr[-4000:]}")
        return done.stdout.strip()

    return console


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The detector's Lambda zip, built once per session by `build_lambda_zip`."""
    from petrostream.deploy.package import build_lambda_zip

    out = tmp_path_factory.mktemp("dist") / "lambda.zip"
    build_lambda_zip(out)
    yield out
