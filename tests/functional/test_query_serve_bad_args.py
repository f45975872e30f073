"""`petrostream query` and `serve` with bad arguments: a sentence and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from petrostream.cli import main
from petrostream.testing.lakefiles import sensor_rows, write_lake_file


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crawled home with one well."""
    home = tmp_path_factory.mktemp("badargs") / "home"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    write_lake_file(
        home / "lake",
        "sensors",
        {"dt": "2024-05-01", "well_id": "WELL-00001"},
        sensor_rows(10, start=start),
    )
    assert CliRunner().invoke(main, ["--home", str(home), "crawl"]).exit_code == 0
    return home


DEEP = "SELECT " + "(" * 500 + "1" + ")" * 500
LONG = "SELECT " + "+".join(["1"] * 5000)

QUERY_CASES = [
    (["SELECT nope FROM sensors"], 'Referenced column "nope" not found'),
    ([DEEP], "nests parentheses more than"),
    ([LONG], "split it into WITH clauses"),
    (["SELECT " + " ".join(["NOT"] * 3000) + " true"], "nested too deeply"),
    (["SELECT 1; DROP TABLE sensors"], "refused"),
    (["SELECT * FROM read_csv('/etc/passwd')"], "refused: function read_csv()"),
    (["SELECT format_datetime(ts, 'yyyy kk') FROM sensors"], "format letter 'kk'"),
    (["SELECT soundex('x')"], "alternative"),
    (["SELECT 1/0"], "Division by zero"),
    (["SELECT CAST('x' AS integer)"], "Could not convert"),
    (["--timeout", "nan", "SELECT 1"], "--timeout"),
    (["--timeout", "-1", "SELECT 1"], "--timeout"),
    (["--limit", "-5", "SELECT 1"], "--limit"),
    (["--limit", "x", "SELECT 1"], "--limit"),
    (["--param", "=1", "SELECT :a"], "is not NAME=VALUE"),
    (["--param", "b=1", "SELECT :a"], "pass --param a=VALUE"),
    (["SELECT ?"], "positional '?' parameters"),
    (["--named", "nope"], "no named query 'nope'"),
    (["--named", "pressure_series"], "needs --param well_id=VALUE"),
    (["--named", "events_per_well", "SELECT 1"], "either SQL or --named"),
    (["--format", "xml", "SELECT 1"], "--format"),
    ([], "give a SQL query"),
    (["   "], "empty SQL"),
    (["SELECT 1", "--engine", "nowhere"], "--engine"),
]


@pytest.mark.parametrize(("args", "needle"), QUERY_CASES)
def test_query_with_bad_arguments_says_what_and_how(home: Path, args, needle) -> None:
    result = CliRunner().invoke(main, ["--home", str(home), "query", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_query_timeout_infinity_or_huge_still_runs(home: Path) -> None:
    for timeout in ("inf", "1e308"):
        result = CliRunner().invoke(
            main, ["--home", str(home), "query", "--timeout", timeout, "SELECT 1 AS one"]
        )
        assert "Traceback" not in result.output
        assert result.exit_code in (0, 2), result.output
        if result.exit_code == 2:
            assert "--timeout" in result.output


def test_query_from_stdin_that_is_not_utf8(home: Path) -> None:
    result = CliRunner().invoke(
        main, ["--home", str(home), "query", "-"], input=b"\xff\xfeSELECT 1"
    )
    assert result.exit_code == 2
    assert "not UTF-8 text" in result.output


SERVE_CASES = [
    (["--host", "0.0.0.0"], "add --allow-remote"),
    (["--host", "::"], "add --allow-remote"),
    (["--host", "bogus.invalid"], "not an address or a host name"),
    (["--port", "0"], "--port"),
    (["--port", "70000"], "--port"),
    (["--query-memory", "lots"], "is not a size"),
    (["--max-queries", "0"], "--max-queries"),
    (["--token-file", "/nonexistent/token"], "cannot read the token file"),
]


@pytest.mark.parametrize(("args", "needle"), SERVE_CASES)
def test_serve_with_bad_arguments_says_what_and_how(home: Path, args, needle) -> None:
    result = CliRunner().invoke(main, ["--home", str(home), "serve", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_serve_with_a_short_token_file_says_how_to_make_one(home: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("short\n")
    result = CliRunner().invoke(main, ["--home", str(home), "serve", "--token-file", str(token)])
    assert result.exit_code == 2
    assert "16 to 256 characters" in result.output


def test_serve_on_a_busy_port_in_a_real_process(home: Path, busy_port: int) -> None:
    # the whole program as a user runs it: no traceback on stderr either
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from petrostream.cli import main; main()",
            "--home",
            str(home),
            "serve",
            "--port",
            str(busy_port),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "pick another --port" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
