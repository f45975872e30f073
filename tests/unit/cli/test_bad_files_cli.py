"""A folder with hostile files: replay, evaluate and dataset inspect go on, without a traceback."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from petrostream.cli import main

HEADER = b"timestamp,P-PDG,P-TPT,T-TPT,P-MON-CKP,T-JUS-CKP,P-JUS-CKGL,T-JUS-CKGL,QGL,class"
ROW = b"2014-05-30 10:%02d:%02d.000000,3.804348e+07,2.262982e+07,1.118179e+02,,,,,,0"
NOT_UTF8 = b"2014-05-30 10:59:59.000000,\xff\xfe,1,2,,,,,,0"


def _rows(n: int) -> list[bytes]:
    return [ROW % divmod(i, 60) for i in range(n)]


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    folder = tmp_path / "3w" / "2"
    folder.mkdir(parents=True)
    (folder / "WELL-00021_20140530100000.csv").write_bytes(b"\r".join([HEADER, *_rows(50)]))
    stray = _rows(50)
    stray[10] = stray[10].replace(b",", b",\r", 1)
    (folder / "WELL-00022_20140530100000.csv").write_bytes(b"\n".join([HEADER, *stray, NOT_UTF8]))
    (folder / "WELL-00023_20140530100000.csv").write_bytes(bytes(range(256)) * 40)
    (folder / "WELL-00024_20140530100000.csv").write_bytes(b"\n".join([HEADER, *_rows(50)])[:-9])
    (folder / "WELL-00013 weird name!.csv").write_bytes(b"\n".join([HEADER, *_rows(5)]))
    return folder.parent


def _invoke(home: Path, *args: str):
    result = CliRunner().invoke(main, ["--home", str(home), *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_replay_reports_bad_files_and_rows_and_puts_the_rest(home: Path, hostile: Path):
    result = _invoke(home, "replay", "--speed", "0", str(hostile))

    assert result.exit_code == 0, result.output
    assert "records    148 put" in result.output  # 50 + 49 + 49 (the cut last row)
    assert "SKIPPED FILE" in result.output and "binary data" in result.output
    assert "cannot name a lake partition" in result.output
    per_instance = result.output.split("records put per instance:")[1]
    assert "WELL-00023" not in per_instance and "weird name" not in per_instance
    (rejects,) = (home / "rejects").glob("replay-*.jsonl")
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted(r["reason"].split(":")[0] for r in lines) == [
        "bad_encoding", "bad_line", "wrong_column_count",
    ]  # fmt: skip
    (binary,) = [r for r in lines if r["reason"].startswith("bad_encoding")]
    assert base64.b64decode(binary["raw_base64"]) == NOT_UTF8


def test_evaluate_skips_an_unreadable_file_and_says_so(home: Path, hostile: Path):
    result = _invoke(home, "evaluate", str(hostile))
    assert result.exit_code == 0, result.output
    assert "WELL-00023_20140530100000.csv" in result.output
    assert "could not be read and were not evaluated" in result.output


def test_dataset_inspect_lists_every_readable_file(home: Path, hostile: Path):
    result = _invoke(home, "dataset", "inspect", str(hostile))
    assert result.exit_code == 2
    assert "WELL-00021_20140530100000" in result.output
    assert "1 of 5 files cannot be read" in result.output
