"""`petrostream dataset synth` and `petrostream dataset inspect`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from helpers_3w import bundled_3w_table

from petrostream.cli import main


def test_synth_writes_a_tree_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    args = ["dataset", "synth", str(out), "--wells", "2", "--hours", "0.5", "--seed", "3",
            "--events", "2,5", "--events", "8", "--instance-hours", "0.25"]  # fmt: skip
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), *args])
    assert result.exit_code == 0, result.output
    assert "wrote 4 instances (3,600 readings" in result.stdout
    assert "synth: 4/4 files" in result.stderr
    assert {p.parent.name for p in out.rglob("*.csv")} == {"2", "5", "8"}


def test_synth_rejects_an_unknown_event_class(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dataset", "synth", str(tmp_path), "--events", "2,x"])
    assert result.exit_code == 2
    assert "'x' is not an event class" in result.output


def test_inspect_lists_instances_with_counts(bundled_3w_dir: Path) -> None:
    result = CliRunner().invoke(main, ["dataset", "inspect", str(bundled_3w_dir)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("WELL-00011_20140530100015"))
    assert row.split() == ["WELL-00011_20140530100015", "WELL-00011", "real", "2", "csv",
                           "1,980", "8", "1,972", "0"]  # fmt: skip
    # the total is the bundled README's table: every instance, every row
    table = bundled_3w_table()
    assert lines[-1].startswith(f"{len(table)} instances, {sum(table.values()):,} rows, 0 rejects")


def test_inspect_counts_every_instance_of_the_shared_set(shared_3w_dir: Path) -> None:
    # given whatever the developers' 3W set holds today, counted independently
    files = sorted(shared_3w_dir.rglob("*.csv"))
    rows = sum(len(f.read_bytes().splitlines()) - 1 for f in files)
    # when inspected
    result = CliRunner().invoke(main, ["dataset", "inspect", str(shared_3w_dir)])
    # then every instance and row is counted, and the real files have no bad row
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(
        f"{len(files)} instances, {rows:,} rows, 0 rejects"
    )


def test_inspect_shows_rejects_and_errors_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "3" / "WELL-00001_20200101000000.csv"
    bad.parent.mkdir()
    bad.write_text("timestamp,P-PDG,class\n2020-01-01 00:00:00,1e7,3\n2020-01-01 00:00:01,x,3\n")
    result = CliRunner().invoke(main, ["dataset", "inspect", str(bad), "--rejects", "5"])
    assert result.exit_code == 0, result.output
    assert "line 3: bad_number: P-PDG = 'x'" in result.stdout
    missing = CliRunner().invoke(main, ["dataset", "inspect", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "nope: no such file or folder" in missing.output
    assert "Traceback" not in missing.output


def test_inspect_goes_on_past_an_unreadable_file(
    tmp_path: Path, bundled_3w_files: list[Path]
) -> None:
    broken = tmp_path / "WELL-00002_20200101000000.parquet"
    broken.write_text("not parquet")
    result = CliRunner().invoke(main, ["dataset", "inspect", str(broken), str(bundled_3w_files[0])])
    assert result.exit_code == 2
    assert f"{broken}: not a readable Parquet file" in result.stderr
    assert bundled_3w_files[0].stem in result.stdout
    assert "1 of 2 files cannot be read" in result.stderr
