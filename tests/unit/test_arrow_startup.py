"""`skip_pandas_probe`: pyarrow converts values without importing pandas, pandas still works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUNDLED_3W = REPO / "src" / "petrostream" / "data" / "3w"


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_conversions_after_the_probe_do_not_import_pandas_and_to_pandas_still_works() -> None:
    # given a process that skipped the probe
    out = _run(
        "import sys\n"
        "from petrostream.arrow_startup import skip_pandas_probe\n"
        "assert skip_pandas_probe()\n"
        "import numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        # when it converts Python and NumPy values
        "a = pa.array(np.arange(3.0)); s = pa.array(['x', None]); pc.add(a, 1)\n"
        "print('pandas' in sys.modules)\n"
        # then pandas was not imported, and an explicit pandas call still works
        "frame = pa.table({'x': a}).to_pandas()\n"
        "import pandas\n"
        "print(type(frame).__name__, list(frame['x']), pa.Table.from_pandas(frame).num_rows)\n"
    )
    assert out.splitlines() == ["False", "DataFrame [0.0, 1.0, 2.0] 3"]


def test_a_process_that_already_has_pandas_is_left_alone() -> None:
    out = _run(
        "import pandas\n"
        "from petrostream.arrow_startup import skip_pandas_probe\n"
        "print(skip_pandas_probe())\n"
    )
    assert out == "False"


def test_the_replay_command_does_not_import_pandas(tmp_path: Path) -> None:
    # given the CLI's replay verb on the bundled sample, as a user types it (the
    # command imports the producer, whose encoder converts values at import)
    out = _run(
        "import sys\n"
        "from petrostream.cli import main\n"
        f"main(['--home', {str(tmp_path)!r}, 'replay', {str(BUNDLED_3W)!r}, '--speed', '0',\n"
        "      '--quiet'], standalone_mode=False)\n"
        "print('pandas' in sys.modules)\n"
    )
    # then it put records and never paid for pandas' import (0.3-1 s of its start-up)
    assert " put in " in out
    assert out.splitlines()[-1] == "False"


def test_the_detectors_drain_does_not_import_pandas(tmp_path: Path) -> None:
    # given the bundled sample replayed into a home
    _run(
        "from pathlib import Path\n"
        "from petrostream.cli.replay import run_replay\n"
        "from petrostream.settings import Settings\n"
        f"run_replay(Settings(home=Path({str(tmp_path)!r})), [Path({str(BUNDLED_3W)!r})],\n"
        "           speed=0, target='local', progress=False)\n"
    )
    # when the detector drains it (bulk decoder and alerts' export to the lake included)
    out = _run(
        "import logging, sys\n"
        "from pathlib import Path\n"
        "from petrostream.runtime.detector import run_detector\n"
        "from petrostream.settings import Settings\n"
        "logging.disable(logging.CRITICAL)\n"
        f"s = run_detector(Settings(home=Path({str(tmp_path)!r})), drain=True)\n"
        "print(s.records_processed > 0, s.alerts_exported > 0, 'pandas' in sys.modules)\n"
    )
    # then it never paid for pandas' import
    assert out == "True True False"
