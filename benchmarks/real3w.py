"""Where the benchmarks find the developers' real 3W set (imported by the bench_*.py scripts)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def real_3w_dir(given: str | None) -> Path | None:
    """``given``, else $PETROSTREAM_3W_DIR, else ../shared/data/3w; None if absent or 'none'.

    Raises:
        SystemExit: ``given`` names a folder that does not exist.
    """
    if given == "none":
        return None
    if given:
        if not Path(given).is_dir():
            raise SystemExit(f"--real {given}: no such folder (give a 3W tree, or 'none')")
        return Path(given)
    for candidate in (os.environ.get("PETROSTREAM_3W_DIR"), REPO.parent / "shared/data/3w"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
