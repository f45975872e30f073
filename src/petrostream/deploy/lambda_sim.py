"""Run a Lambda zip the way the AWS Lambda Python runtime would, on this machine.

The zip is unpacked into a task folder (Lambda's ``/var/task``) and the handler
runs in a fresh, isolated interpreter (``python -I -S``) whose ``sys.path`` is
the task folder, the standard library and the folder that holds boto3; a
meta-path finder refuses every other third-party package, as the runtime
lacks them. Used by the tests (moto cannot run Lambda code without Docker) and
handy to try a zip before deploying it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from petrostream.deploy.package import HANDLER, LAMBDA_RUNTIME_PACKAGES
from petrostream.errors import ConfigError

_RUNNER: Final = r"""
import importlib, importlib.abc, json, os, sys, types

task, handler_path, allowed_json, runtime_dirs_json = sys.argv[1:5]
shipped = {entry.split(".")[0] for entry in os.listdir(task)}  # whatever the zip ships
allowed = set(sys.stdlib_module_names) | set(json.loads(allowed_json)) | shipped

class LambdaRuntimeOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in allowed:
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda runtime)")

sys.path[:0] = [task]
sys.path.extend(json.loads(runtime_dirs_json))
sys.meta_path.insert(0, LambdaRuntimeOnly())
module_name, _, function = handler_path.rpartition(".")
handler = getattr(importlib.import_module(module_name), function)
context = types.SimpleNamespace(
    function_name="petrostream-local", aws_request_id="local", memory_limit_in_mb=256,
    get_remaining_time_in_millis=lambda: 60000,
)
events = json.load(sys.stdin)
responses = [handler(event, context) for event in events]
loaded = sorted({m.partition(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
origin = getattr(sys.modules.get("petrostream"), "__file__", None)
print(json.dumps({"responses": responses, "loaded": loaded, "petrostream_from": origin}))
"""


def runtime_dirs() -> list[str]:
    """Folders holding the packages the Lambda runtime provides (boto3 and its dependencies)."""
    dirs: list[str] = []
    for name in sorted(LAMBDA_RUNTIME_PACKAGES):
        try:
            module = __import__(name)
        except ImportError:
            continue
        folder = str(Path(module.__file__ or "").resolve().parent.parent)
        if folder not in dirs:
            dirs.append(folder)
    return dirs


def invoke_zip(
    zip_path: Path,
    events: Sequence[Mapping[str, Any]],
    environment: Mapping[str, str],
    handler: str = HANDLER,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Invoke ``handler`` from ``zip_path`` once per event, in one warm "container".

    Args:
        zip_path: the Lambda zip (`petrostream aws package`).
        events: the events, e.g. Kinesis events ``{"Records": [...]}``.
        environment: the whole environment of the function (its variables, AWS
            credentials, region, ``AWS_ENDPOINT_URL`` for an emulator); nothing else
            is inherited.
        handler: ``module.function``.
        timeout: seconds for all events.

    Returns:
        ``{"responses": [...], "loaded": [top-level third-party modules],
        "petrostream_from": <file the petrostream package came from>}``.

    Raises:
        ConfigError: the handler failed (its traceback's last lines are in the message).
    """
    with tempfile.TemporaryDirectory(prefix="lambda-task-") as task:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(task)
        cmd = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _RUNNER,
            task,
            handler,
            json.dumps(sorted(LAMBDA_RUNTIME_PACKAGES)),
            json.dumps(runtime_dirs()),
        ]
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            cmd,
            input=json.dumps(list(events)),
            capture_output=True,
            text=True,
            env=dict(environment),
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        raise ConfigError(f"{handler} failed in {zip_path}: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
