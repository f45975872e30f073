"""Build the Lambda zip: only what the handler imports, byte-identical on every build.

The import closure is measured, not listed by hand: a subprocess imports the
handler the way the Lambda runtime would (only the standard library and the
runtime's boto3 are importable; anything else raises ImportError), invokes it
once with an empty Kinesis event under Lambda-like environment variables so the
backends it builds lazily are imported too, and reports every ``petrostream``
module it loaded. The zip holds those modules' sources plus the data files of
their packages (``detect/rules.toml``).

Reproducible: entries sorted, fixed timestamps (1980-01-01) and permissions
(0644), fixed compression, so the same tree gives the same bytes, and the
Terraform ``source_code_hash`` changes only when the code does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from petrostream.errors import ConfigError

HANDLER: Final = "petrostream.handlers.process_stream.lambda_handler"
"""The handler the Terraform stack configures (module path + function)."""

LAMBDA_RUNTIME_PACKAGES: Final[frozenset[str]] = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)
"""Top-level packages the AWS Lambda Python runtime provides besides the stdlib."""

DATA_SUFFIXES: Final[frozenset[str]] = frozenset({".toml", ".json"})
"""Files beside an imported package's modules that ship with it (rules, schemas)."""

_FIXED_DATE: Final = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
_FILE_MODE: Final = 0o100644  # regular file, rw-r--r--

# Runs in a fresh interpreter: a meta-path finder refuses every top-level module
# that is neither stdlib, petrostream nor provided by the Lambda runtime, as the
# runtime would (ImportError), and records what it refused.
_PROBE: Final = r"""
import importlib, importlib.abc, json, os, sys

allowed = set(sys.stdlib_module_names) | set(json.loads(sys.argv[2])) | {"petrostream"}
refused = []

class LambdaRuntimeOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in allowed:
            if top not in refused:
                refused.append(top)
            raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda runtime)")
        return None

sys.meta_path.insert(0, LambdaRuntimeOnly())
os.environ.update({
    "AWS_LAMBDA_FUNCTION_NAME": "petrostream-package-probe",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "PETROSTREAM_STATE_TABLE": "probe-state",
    "PETROSTREAM_STATE_BUCKET": "probe-state",
    "PETROSTREAM_ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:probe",
    "PETROSTREAM_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/probe",
})
module_name, _, function = sys.argv[1].rpartition(".")
result = {"refused": refused}
try:
    handler = getattr(importlib.import_module(module_name), function)
    handler({"Records": []}, None)
except Exception as exc:
    result["error"] = f"{type(exc).__name__}: {exc}"
result["modules"] = {
    name: getattr(module, "__file__", None)
    for name, module in sorted(sys.modules.items())
    if name == "petrostream" or name.startswith("petrostream.")
}
print(json.dumps(result))
"""


@dataclass(frozen=True)
class Closure:
    """What the handler loads in a Lambda-like interpreter.

    Attributes:
        modules: petrostream module name -> source file, as imported.
        refused: third-party top-level packages it tried to import and did not get
            (optional imports such as orjson, which it survives without).
    """

    modules: dict[str, Path]
    refused: tuple[str, ...]


def import_closure(handler: str = HANDLER, python: str | None = None) -> Closure:
    """Import and invoke ``handler`` in a Lambda-like subprocess; return what it loaded.

    Raises:
        ConfigError: the handler cannot be imported or invoked there, e.g. it needs
            pydantic, numpy or pyarrow, which the Lambda runtime lacks.
    """
    cmd = [
        python or sys.executable,
        "-c",
        _PROBE,
        handler,
        json.dumps(sorted(LAMBDA_RUNTIME_PACKAGES)),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"could not probe the handler {handler}: {done.stderr.strip()[-500:]}"
        ) from exc
    if "error" in result:
        refused = ", ".join(result["refused"]) or "nothing"
        raise ConfigError(
            f"the handler {handler} does not run in the Lambda runtime: {result['error']} "
            f"(it tried to import {refused}, which the runtime lacks); "
            "keep its imports to the standard library, boto3 and petrostream's pure modules"
        )
    modules = {name: Path(file) for name, file in result["modules"].items() if file}
    return Closure(modules=modules, refused=tuple(result["refused"]))


def _archive_name(module: str, file: Path) -> str:
    parts = module.split(".")
    if file.name == "__init__.py":
        return "/".join([*parts, "__init__.py"])
    return "/".join(parts[:-1] + [file.name])


def zip_entries(closure: Closure) -> dict[str, Path]:
    """Archive name -> source file: the closure's modules and its packages' data files."""
    entries: dict[str, Path] = {}
    for module, file in closure.modules.items():
        if file.suffix != ".py":
            raise ConfigError(
                f"{module} is {file.name}, not Python source: the Lambda zip holds pure Python only"
            )
        name = _archive_name(module, file)
        entries[name] = file
        if file.name == "__init__.py":
            package_dir = name.rpartition("/")[0]
            for data in sorted(file.parent.iterdir()):
                if data.is_file() and data.suffix in DATA_SUFFIXES:
                    entries[f"{package_dir}/{data.name}"] = data
    return entries


def write_zip(entries: dict[str, Path], out: Path) -> None:
    """Write ``entries`` to ``out`` deterministically (sorted, fixed dates and modes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = _FILE_MODE << 16
            archive.writestr(info, entries[name].read_bytes(), compresslevel=9)
    tmp.replace(out)


@dataclass(frozen=True)
class PackageReport:
    """What `build_lambda_zip` wrote."""

    path: Path
    entries: tuple[str, ...]
    size: int
    sha256_b64: str
    refused: tuple[str, ...]


def build_lambda_zip(out: Path, handler: str = HANDLER) -> PackageReport:
    """Build the Lambda zip for ``handler`` at ``out``; same inputs, same bytes.

    Returns the entries, size and the base64 SHA-256 (what Terraform's
    ``filebase64sha256`` and Lambda's ``CodeSha256`` report).
    """
    import base64
    import hashlib

    closure = import_closure(handler)
    entries = zip_entries(closure)
    write_zip(entries, out)
    data = out.read_bytes()
    return PackageReport(
        path=out,
        entries=tuple(sorted(entries)),
        size=len(data),
        sha256_b64=base64.b64encode(hashlib.sha256(data).digest()).decode(),
        refused=closure.refused,
    )
