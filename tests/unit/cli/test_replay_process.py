"""The replay verb's process: what it sets up for itself before and after the replay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BUNDLED_3W = REPO / "src" / "petrostream" / "data" / "3w"

# Registered before the verb runs, so it runs after the verb's own exit handlers
# (atexit runs last-in first-out): it sees what the process looks like at the end.
_AT_EXIT = (
    "import atexit, gc, os, sys\n"
    "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0,\n"
    "                              'blas', os.environ.get('OPENBLAS_NUM_THREADS'), flush=True))\n"
)


def _run(script: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``script`` (after `_AT_EXIT`) in a fresh interpreter, no OpenBLAS setting but ``env``."""
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", _AT_EXIT + script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def _replay(home: Path, *, env: dict[str, str] | None = None) -> list[str]:
    return _run(
        "from petrostream.cli import main\n"
        f"main(['--home', {str(home)!r}, 'replay', {str(BUNDLED_3W)!r}, '--speed', '0',\n"
        "      '--quiet'], standalone_mode=False)\n",
        env,
    )


def test_the_replay_process_skips_the_final_collection_and_starts_no_blas_threads(
    tmp_path: Path,
) -> None:
    # given the replay verb run as a user runs it, with no OpenBLAS setting
    lines = _replay(tmp_path)
    # then it replayed, its objects were frozen for the exit (the interpreter's last
    # collection walks none of them) and NumPy was told to start no BLAS threads
    assert any(" put in " in line for line in lines)
    assert lines[-1] == "frozen True blas 1"


def test_the_users_openblas_setting_is_kept(tmp_path: Path) -> None:
    lines = _replay(tmp_path, env={"OPENBLAS_NUM_THREADS": "2"})
    assert lines[-1] == "frozen True blas 2"


def test_a_replay_called_as_a_library_freezes_nothing(tmp_path: Path) -> None:
    # given run_replay called from a program (not the verb): the exit is not its business
    script = (
        "from pathlib import Path\n"
        "from petrostream.cli.replay import run_replay\n"
        "from petrostream.settings import Settings\n"
        f"s = run_replay(Settings(home=Path({str(tmp_path)!r})), [Path({str(BUNDLED_3W)!r})],\n"
        "               speed=0, target='local', progress=False)\n"
        "print('put', s.records_put > 0)\n"
    )
    assert _run(script) == ["put True", "frozen False blas None"]
