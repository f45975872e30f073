"""Helpers the tests share (imported by name: ``from helpers_3w import cli_ok``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

BUNDLED_3W = Path(__file__).resolve().parents[1] / "src" / "petrostream" / "data" / "3w"


def bundled_3w_table() -> dict[str, int]:
    """Rows per bundled instance (file stem), as the bundled README's table lists them."""
    rows: dict[str, int] = {}
    for line in (BUNDLED_3W / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and cells[0].endswith(".csv`"):
            rows[Path(cells[0].strip("`")).stem] = int(cells[3].replace(",", ""))
    return rows


def named_3w_files(folder: Path, names: Sequence[str]) -> list[Path]:
    """``names`` (``<class>/<file>``) in ``folder``; skips the test, naming any missing."""
    files = [folder / name for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        pytest.skip(f"named 3W files absent from {folder}: {', '.join(missing)}")
    return files


def cli_ok(home: Path, *args: str) -> str:
    """Run ``petrostream --home HOME ARGS`` in-process; its output (asserting exit code 0)."""
    from click.testing import CliRunner

    from petrostream.cli import main

    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def query_json(home: Path, sql: str) -> list[dict]:
    """The rows of ``petrostream query --format json SQL`` on the home's lake."""
    import json

    return json.loads(cli_ok(home, "query", "--format", "json", sql))
