"""The 3W readers: real files, format variants between dataset versions, bad rows, bad files."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet
import pytest

from petrostream.dataset import Reject, discover, instance_of, read_instance
from petrostream.errors import DatasetError

HEADER = "timestamp,P-PDG,P-TPT,T-TPT,P-MON-CKP,T-JUS-CKP,P-JUS-CKGL,T-JUS-CKGL,QGL,class"
EXPECTED_ROWS = {"WELL-00011_20140530100015": 1980, "WELL-00016_20180426142005": 1440}
UNLABELLED = {"WELL-00011_20140530100015": 8, "WELL-00016_20180426142005": 15}


def _row(second: int, pdg: str = "2.5e7", label: str = "0") -> str:
    return f"2020-01-01 00:00:{second:02d}.000000,{pdg},1.5e7,80.5,2e6,50,1.2e7,,0.5,{label}"


def _write(tmp_path: Path, lines: list[str], *, name: str = "WELL-00001_20200101000000.csv",
           newline_at_end: bool = True, eol: str = "\n") -> Path:  # fmt: skip
    path = tmp_path / "1" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = eol.join(lines) + (eol if newline_at_end else "")
    path.write_bytes(text.encode())
    return path


def _read(path: Path, batch_rows: int = 65_536) -> tuple[pa.Table, list[Reject], list[int]]:
    batches = list(read_instance(instance_of(path), batch_rows=batch_rows))
    tables = [b.table for b in batches]
    table = pa.concat_tables(tables) if tables else None
    rejects = [r for b in batches for r in b.rejects]
    return table, rejects, [b.first_line for b in batches]


# --- the real 3W files -----------------------------------------------------------------


def test_real_files_keep_every_row_and_unlabelled_rows_as_null(
    bundled_3w_files: list[Path],
) -> None:
    # given the two real 3W 1.x instances (one of them lacks its final newline)
    paths = [p for p in bundled_3w_files if p.stem in EXPECTED_ROWS]
    assert len(paths) == 2
    assert not paths[0].read_bytes().endswith(b"\n")
    for path in paths:
        # when it is read
        table, rejects, _ = _read(path)
        # then every data row is there, none rejected, the empty labels are nulls
        assert table.num_rows == EXPECTED_ROWS[path.stem]
        assert rejects == []
        assert table.column("event_class").null_count == UNLABELLED[path.stem]
        assert table.column("state").null_count == table.num_rows


def assert_values_equal_the_file_text(path: Path) -> None:
    """Read ``path`` in small batches; each value must equal the csv module's parse of it."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    table, rejects, _ = _read(path, batch_rows=500)
    got = table.to_pylist()
    assert rejects == []
    assert len(got) == len(rows)
    for text, row in zip(rows, got, strict=True):
        stamp = datetime.fromisoformat(text["timestamp"]).replace(tzinfo=UTC)
        assert row["source_ts"] == stamp
        for tag in ("P-PDG", "P-TPT", "T-TPT", "P-MON-CKP", "T-JUS-CKP", "QGL"):
            column = tag.lower().replace("-", "_")
            assert row[column] == (float(text[tag]) if text[tag] else None)
        assert row["event_class"] == (int(float(text["class"])) if text["class"] else None)


def test_real_file_values_equal_the_file_text(bundled_3w_files: list[Path]) -> None:
    for path in bundled_3w_files:
        assert_values_equal_the_file_text(path)


def test_shared_files_with_other_quirks_equal_their_text(shared_3w_picks: list[Path]) -> None:
    # CRLF line ends, unlabelled stretches, a column empty for the whole file, drawn
    # and simulated instances: named files of the developers' 3W set
    for path in shared_3w_picks:
        assert_values_equal_the_file_text(path)


def test_reading_table_has_the_canonical_schema(bundled_3w_files: list[Path]) -> None:
    table, _, _ = _read(bundled_3w_files[0])
    assert table.schema.field("source_ts").type == pa.timestamp("ms", tz="UTC")
    assert not table.schema.field("source_ts").nullable
    assert table.schema.names[1:9] == [
        "p_pdg", "p_tpt", "t_tpt", "p_mon_ckp", "t_jus_ckp", "p_jus_ckgl", "t_jus_ckgl", "qgl",
    ]  # fmt: skip
    assert table.schema.field("p_pdg").type == pa.float64()
    assert table.schema.field("event_class").type == pa.int32()
    assert table.schema.field("state").type == pa.int32()


# --- variants between 3W versions --------------------------------------------------------


def test_labels_in_e_notation_and_as_integers_read_as_ints(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, _row(0, label="1.060000e+02"), _row(1, label="102"),
                             _row(2, label="0.000000e+00"), _row(3, label="")])  # fmt: skip
    table, rejects, _ = _read(path)
    assert table.column("event_class").to_pylist() == [106, 102, 0, None]
    assert rejects == []


def test_missing_final_newline_keeps_the_last_row(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, _row(0), _row(1, pdg="3.1e7")], newline_at_end=False)
    table, rejects, _ = _read(path)
    assert table.column("p_pdg").to_pylist() == [2.5e7, 3.1e7]
    assert rejects == []


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER, _row(0), _row(1, label="101")], eol="\r\n")
    table, rejects, _ = _read(path)
    assert table.column("event_class").to_pylist() == [0, 101]
    assert rejects == []


def test_whole_empty_column_and_dead_gauge_at_zero(tmp_path: Path) -> None:
    # given T-JUS-CKGL empty on every row and P-MON-CKP stuck at 0
    lines = [HEADER] + [_row(s).replace(",2e6,", ",0,") for s in range(5)]
    path = _write(tmp_path, lines)
    table, rejects, _ = _read(path)
    # then the empty column is kept as all-null float64 and the zeros stay zeros
    assert table.column("t_jus_ckgl").null_count == 5
    assert table.schema.field("t_jus_ckgl").type == pa.float64()
    assert table.column("p_mon_ckp").to_pylist() == [0.0] * 5
    assert rejects == []


def test_unknown_extra_column_is_kept_under_its_canonical_name(tmp_path: Path) -> None:
    header = HEADER.replace(",class", ",P-NEW GAUGE,class")
    lines = [header, _row(0).replace(",0.5,0", ",0.5,42.5,0")]
    table, rejects, _ = _read(_write(tmp_path, lines))
    assert table.column("p_new_gauge").to_pylist() == [42.5]
    assert table.schema.names[-3:] == ["p_new_gauge", "event_class", "state"]
    assert rejects == []


def test_header_only_file_yields_no_rows(tmp_path: Path) -> None:
    table, rejects, _ = _read(_write(tmp_path, [HEADER]))
    assert table is None
    assert rejects == []


# --- bad rows ----------------------------------------------------------------------------


def test_bad_rows_become_rejects_and_good_rows_around_them_are_kept(tmp_path: Path) -> None:
    # given one bad row of each kind between good rows (line 1 is the header)
    lines = [
        HEADER,
        _row(0),  # line 2
        _row(1, pdg="2.5e7x"),  # line 3: unparseable number
        _row(2),  # line 4
        _row(3) + ",999",  # line 5: a column too many
        "2020-01-01 00:00:04.000000,2.5e7",  # line 6: columns missing
        _row(5).replace("2020-01-01 00:00:05.000000", "yesterday"),  # line 7: bad timestamp
        _row(6).replace("2020-01-01 00:00:06.000000", ""),  # line 8: no timestamp
        _row(7, label="110"),  # line 9: not a 3W label
        _row(8, label="1.5"),  # line 10: not a whole label
        _row(9, pdg="2.9e7"),  # line 11
    ]
    path = _write(tmp_path, lines, newline_at_end=False)
    # when it is read
    table, rejects, _ = _read(path)
    # then the good rows are all there with their values
    seconds = [ts.second for ts in table.column("source_ts").to_pylist()]
    assert seconds == [0, 2, 9]
    assert table.column("p_pdg").to_pylist() == [2.5e7, 2.5e7, 2.9e7]
    # and every bad row is a reject with file, line, reason and the raw text
    by_line = {r.line: r for r in rejects}
    assert sorted(by_line) == [3, 5, 6, 7, 8, 9, 10]
    assert by_line[3].reason.startswith("bad_number: P-PDG")
    assert by_line[5].reason.startswith("wrong_column_count: expected 10 columns, got 11")
    assert by_line[6].reason.startswith("wrong_column_count: expected 10 columns, got 2")
    assert by_line[7].reason.startswith("bad_timestamp")
    assert by_line[8].reason.startswith("bad_timestamp")
    assert by_line[9].reason.startswith("unknown_label: 110")
    assert by_line[10].reason.startswith("unknown_label: 1.5")
    assert all(r.file == str(path) for r in rejects)
    assert by_line[3].raw == lines[2]
    assert by_line[5].raw == lines[4]


def test_bad_rows_deep_inside_a_large_file_keep_exact_lines(tmp_path: Path) -> None:
    # given 3000 good rows with bad rows scattered (bisection down to the careful path)
    lines = [HEADER]
    bad_lines = {17, 1500, 1501, 2999}
    for i in range(3000):
        line = len(lines) + 1
        row = _row(i % 60, pdg=f"{2.0e7 + i:.1f}")
        lines.append(row.replace("2e6", "oops") if line in bad_lines else row)
    lines.insert(900, "")  # a blank line is no reading and no reject
    bad_lines = {b if b < 901 else b + 1 for b in bad_lines}
    path = _write(tmp_path, lines)
    # when read in batches of 256 rows
    table, rejects, firsts = _read(path, batch_rows=256)
    # then exactly the bad rows are rejected, at their lines, and the rest is kept in order
    assert sorted(r.line for r in rejects) == sorted(bad_lines)
    assert all(r.reason.startswith("bad_number: P-MON-CKP") for r in rejects)
    assert table.num_rows == 3000 - 4
    pdg = table.column("p_pdg").to_pylist()
    assert pdg == sorted(pdg)
    assert firsts[0] == 2
    assert firsts == sorted(firsts)


def test_batches_respect_batch_rows_and_carry_their_first_line(tmp_path: Path) -> None:
    lines = [HEADER] + [_row(s % 60, pdg=str(2.0e7 + s)) for s in range(1000)]
    path = _write(tmp_path, lines)
    batches = list(read_instance(instance_of(path), batch_rows=300))
    assert all(b.table.num_rows <= 300 for b in batches)
    assert sum(b.table.num_rows for b in batches) == 1000
    for batch in batches:
        first_pdg = batch.table.column("p_pdg")[0].as_py()
        assert batch.first_line == int(first_pdg - 2.0e7) + 2


# --- bad files ---------------------------------------------------------------------------


def test_unknown_file_type_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "WELL-00001_20200101000000.txt"
    path.write_text(HEADER)
    with pytest.raises(DatasetError, match=r"WELL-00001_20200101000000\.txt"):
        instance_of(path)
    with pytest.raises(DatasetError, match=r"\.txt"):
        discover([path])


def test_unreadable_parquet_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "WELL-00001_20200101000000.parquet"
    path.write_text(HEADER + "\n" + _row(0))
    with pytest.raises(DatasetError, match=r"WELL-00001_20200101000000\.parquet"):
        list(read_instance(instance_of(path)))


@pytest.mark.parametrize(
    "first_line", ["", "P-PDG,P-TPT,class", "\x00\x01\x02 binary"], ids=["empty", "no-ts", "junk"]
)
def test_csv_without_a_3w_header_is_an_error_naming_the_file(
    tmp_path: Path, first_line: str
) -> None:
    path = _write(tmp_path, [first_line] if first_line else [], newline_at_end=bool(first_line))
    with pytest.raises(DatasetError, match=str(path.name)):
        list(read_instance(instance_of(path)))


def test_duplicate_columns_are_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, [HEADER.replace("P-TPT", "P-PDG"), _row(0)])
    with pytest.raises(DatasetError, match="P-PDG"):
        list(read_instance(instance_of(path)))


# --- Parquet 2.x -------------------------------------------------------------------------


def _pandas_parquet(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, engine="pyarrow", compression="brotli")
    return path


def _frame(n: int, classes: list[int | None], states: list[int | None]) -> pd.DataFrame:
    index = pd.date_range("2017-02-01 01:02:07", periods=n, freq="s", name="timestamp")
    frame = pd.DataFrame(
        {"P-PDG": [2.0e7 + i for i in range(n)], "ABER-CKP": [50.0] * n, "QBS": [None] * n},
        index=index,
    )
    frame["class"] = pd.array(classes, dtype="Int64")
    frame["state"] = pd.array(states, dtype="Int64")
    return frame


def test_parquet_2x_as_pandas_writes_it(tmp_path: Path) -> None:
    # given a 3W 2.x file: timestamp index, Int64 class/state with nulls, an empty column
    frame = _frame(4, [0, None, 105, 5], [0, 0, None, 1])
    path = _pandas_parquet(tmp_path / "5" / "WELL-00001_20170201010207.parquet", frame)
    # when read
    instance = instance_of(path)
    table, rejects, firsts = _read(path)
    # then it has the reading shape and the same values
    assert instance.format == "parquet"
    assert instance.start == datetime(2017, 2, 1, 1, 2, 7, tzinfo=UTC)
    assert table.schema.names == ["source_ts", "p_pdg", "aber_ckp", "qbs", "event_class", "state"]
    assert table.column("source_ts").to_pylist()[0] == datetime(2017, 2, 1, 1, 2, 7, tzinfo=UTC)
    assert table.column("p_pdg").to_pylist() == [2.0e7, 2.0e7 + 1, 2.0e7 + 2, 2.0e7 + 3]
    assert table.column("qbs").null_count == 4
    assert table.column("event_class").to_pylist() == [0, None, 105, 5]
    assert table.column("state").to_pylist() == [0, 0, None, 1]
    assert rejects == []
    assert firsts == [0]


def test_parquet_unknown_label_is_a_reject_with_its_row_index(tmp_path: Path) -> None:
    frame = _frame(5, [0, 0, 110, 0, 0], [0] * 5)
    path = _pandas_parquet(tmp_path / "WELL-00002_20170201010207.parquet", frame)
    table, rejects, _ = _read(path, batch_rows=2)
    assert table.num_rows == 4
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(2, "unknown_label")]
    assert "class=110" in rejects[0].raw
    assert rejects[0].file == str(path)


def test_parquet_nan_reads_as_null_and_float_labels_as_ints(tmp_path: Path) -> None:
    # given a file written by another tool: NaN for missing values, labels as floats
    table = pa.table({
        "timestamp": pa.array([0, 1000, 2000], pa.timestamp("ms")),
        "P-PDG": [2.0e7, float("nan"), 2.1e7],
        "class": [float("nan"), 1.06e2, 6.0],
    })  # fmt: skip
    path = tmp_path / "SIMULATED_00001.parquet"
    pa.parquet.write_table(table, path)
    got, rejects, _ = _read(path)
    assert got.column("p_pdg").to_pylist() == [2.0e7, None, 2.1e7]
    assert got.column("event_class").to_pylist() == [None, 106, 6]
    assert rejects == []


def test_parquet_infinite_value_is_a_reject_not_a_null(tmp_path: Path) -> None:
    table = pa.table({
        "timestamp": pa.array([0, 1000, 2000], pa.timestamp("ms")),
        "P-PDG": [2.0e7, float("inf"), 2.1e7],
        "class": [0.0, 0.0, 0.0],
    })  # fmt: skip
    path = tmp_path / "SIMULATED_00001.parquet"
    pa.parquet.write_table(table, path)
    got, rejects, _ = _read(path)
    assert got.column("p_pdg").to_pylist() == [2.0e7, 2.1e7]
    assert [(r.line, r.code) for r in rejects] == [(1, "bad_number")]
    assert "not a finite number" in rejects[0].reason


def test_utf8_bom_before_the_header(tmp_path: Path) -> None:
    path = _write(tmp_path, ["\ufeff" + HEADER, _row(0)])
    table, rejects, _ = _read(path)
    assert table.num_rows == 1
    assert rejects == []
