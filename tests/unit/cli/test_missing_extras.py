"""A verb whose optional part is not installed says which extra to install, in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from petrostream.cli import main


@pytest.mark.parametrize(
    ("hidden", "args", "extra"),
    [
        ("starlette", ["serve"], "dashboard"),
        ("uvicorn", ["serve"], "dashboard"),
        ("starlette", ["demo"], "dashboard"),
        (
            "pandas",
            [
                "dataset",
                "synth",
                "{tmp}/out",
                "--format",
                "parquet",
                "--wells",
                "1",
                "--hours",
                "0.1",
            ],
            "synth",
        ),  # fmt: skip
    ],
)
def test_a_missing_optional_part_names_its_extra(
    hidden: str, args: list[str], extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the module uninstalled, as far as imports can tell (None in sys.modules)
    for name in [m for m in sys.modules if m == hidden or m.startswith(f"{hidden}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, hidden, None)
    # when the verb runs
    argv = ["--home", str(tmp_path / "home"), *(a.format(tmp=tmp_path) for a in args)]
    result = CliRunner().invoke(main, argv)
    # then one sentence with the extra, exit code 2, and no traceback
    assert result.exit_code == 2, result.output
    assert f"pip install 'petrostream[{extra}]'" in result.stderr
    assert f"{hidden} not installed" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "home" / "stream.db").exists()  # refused before doing anything
