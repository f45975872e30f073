"""The CSV reader against hostile bytes: CR line ends, stray CRs, quotes, binary, truncation.

Whatever the bytes, reading a file never raises anything but `DatasetError` (a file
that is not a 3W CSV at all), and every non-blank line after the header is either
one reading or one reject with its reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from petrostream.dataset import DatasetError, instance_of, read_instance

HEADER = b"timestamp,P-PDG,P-TPT,T-TPT,P-MON-CKP,T-JUS-CKP,P-JUS-CKGL,T-JUS-CKGL,QGL,class"
GOOD = b"2014-05-30 10:00:%02d.000000,3.804348e+07,2.262982e+07,1.118179e+02,,,,,,0"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces a corrupted line is made of: a good row's own bits, quotes, CRs, odd bytes.
PIECES = st.sampled_from(
    [b"2014-05-30 10:00:01.000000", b",", b"3.8e+07", b"inf", b"1e309", b'"', b'","', b"\r",
     b"\xff", b"\x00", b"nan", b"-", b".", b"0", b"101", b" ", b"x", b"\xc3\xa9"]
)  # fmt: skip
LINE = st.one_of(
    st.integers(0, 59).map(lambda s: GOOD % s),
    st.lists(PIECES, max_size=14).map(b"".join),
)


def _read(path: Path) -> tuple[int, list]:
    rows, rejects = 0, []
    for batch in read_instance(instance_of(path), batch_rows=7):
        rows += batch.table.num_rows
        rejects.extend(batch.rejects)
    return rows, rejects


def _nonblank(lines: list[bytes]) -> int:
    return sum(1 for line in lines if line.removesuffix(b"\r").strip(b" \r"))


@SETTINGS
@given(lines=st.lists(LINE, max_size=40), crlf=st.booleans())
def test_every_line_is_a_reading_or_a_reject(tmp_path_factory, lines, crlf):
    # given a 3W header and lines of random pieces (no LF inside a line)
    end = b"\r\n" if crlf else b"\n"
    path = tmp_path_factory.mktemp("hostile") / "WELL-00001_20140530100000.csv"
    path.write_bytes(end.join([HEADER, *lines]) + end)

    # when it is read, then nothing raises and every line is accounted for, once
    rows, rejects = _read(path)
    assert rows + len(rejects) == _nonblank(lines)
    assert len({r.line for r in rejects}) == len(rejects)
    assert all(r.reason.split(":")[0] for r in rejects)


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_random_bytes_are_a_dataset_error_or_readings_and_rejects(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("binary") / "WELL-00001_20140530100000.csv"
    path.write_bytes(data)
    try:
        _read(path)
    except DatasetError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(cut=st.integers(0, 2000), crlf=st.booleans())
def test_a_truncated_file_keeps_every_whole_row(tmp_path_factory, cut, crlf):
    end = b"\r\n" if crlf else b"\n"
    lines = [GOOD % s for s in range(30)]
    whole = end.join([HEADER, *lines]) + end
    path = tmp_path_factory.mktemp("cut") / "WELL-00001_20140530100000.csv"
    path.write_bytes(whole[: len(HEADER) + len(end) + cut])

    rows, rejects = _read(path)

    body = whole[len(HEADER) + len(end) : len(HEADER) + len(end) + cut]
    complete = body.count(b"\n")
    assert complete <= rows <= complete + 1  # a cut inside a number may still parse
    assert rows + len(rejects) == _nonblank(body.split(b"\n"))


def test_cr_line_ends_read_as_lf_ones(tmp_path: Path):
    lines = [GOOD % s for s in range(20)]
    lf, cr = tmp_path / "WELL-00001_20140530100000.csv", tmp_path / "2" / "WELL-00001_x.csv"
    cr.parent.mkdir()
    lf.write_bytes(b"\n".join([HEADER, *lines]) + b"\n")
    cr.write_bytes(b"\r".join([HEADER, *lines]) + b"\r")

    assert _read(cr) == _read(lf) == (20, [])


@pytest.mark.parametrize("value", [b"inf", b"-inf", b"1e309", b"Infinity"])
def test_a_value_that_is_not_finite_is_a_reject_not_a_null(tmp_path: Path, value: bytes):
    row = b"2014-05-30 10:00:05.000000," + value + b",1,2,,,,,,0"
    path = tmp_path / "WELL-00001_20140530100000.csv"
    path.write_bytes(b"\n".join([HEADER, GOOD % 1, row, GOOD % 9]) + b"\n")

    rows, rejects = _read(path)

    assert rows == 2
    assert [(r.line, r.code) for r in rejects] == [(3, "bad_number")]
    assert "not a finite number" in rejects[0].reason


def test_a_row_that_is_not_utf8_keeps_its_bytes(tmp_path: Path):
    row = b"2014-05-30 10:00:05.000000,\xff\xfe,1,2,,,,,,0"
    path = tmp_path / "WELL-00001_20140530100000.csv"
    path.write_bytes(b"\n".join([HEADER, row]) + b"\n")

    _, rejects = _read(path)

    assert rejects[0].code == "bad_encoding"
    assert rejects[0].raw_bytes == row


def test_a_binary_file_named_csv_is_one_sentence(tmp_path: Path):
    path = tmp_path / "WELL-00001_20140530100000.csv"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(DatasetError, match="binary data: is this a CSV file"):
        _read(path)


@SETTINGS
@given(data=st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"x", b","]), max_size=30))
def test_a_lone_carriage_return_is_told_as_the_two_counts_tell_it(data):
    # given any mix of CR, LF and other bytes (a CR at the very end included)
    from petrostream.dataset.csv_reader import _lone_carriage_return

    piece = b"".join(data)
    # then the one-pass check agrees with "some CR is not the start of a CRLF"
    assert _lone_carriage_return(piece) == (piece.count(b"\r") != piece.count(b"\r\n"))
