"""Record encoding, column-wise: reading tables in, DESIGN's JSON records out.

The JSON is built with Arrow compute kernels (a formatted string per column,
joined element-wise), never with a Python loop per value. Floats are written in
their shortest round-trip form, so ``float(json) == value``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from typing import Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from petrostream.dataset.base import Instance
from petrostream.producer.clock import EPOCH
from petrostream.schema import VALID_LABELS, event_type

TS_COLUMN: Final = "source_ts"
LABEL_COLUMN: Final = "event_class"
STATE_COLUMN: Final = "state"
_MS_PER_DAY: Final = 86_400_000
_EPOCH: Final = EPOCH

_STAMP: Final = np.dtype([("date", "S11"), ("clock", "<u8"), ("fraction", "<u4")])
"""One record timestamp as bytes: ``YYYY-MM-DD `` (11), ``HH:MM:SS`` (8), ``.mmm`` (4)."""
_LABEL_LOOKUP_SIZE: Final = max(VALID_LABELS) + 1


def _text_table(fields: list[np.ndarray], seps: bytes) -> np.ndarray:
    """One row of bytes per value: each ``sep`` byte, then its field's two digits.

    ``fields`` are arrays of 0..99, all of one length; numpy builds it, no Python per value.
    """
    columns: list[np.ndarray] = []
    for field, sep in zip(fields, seps, strict=True):
        columns += [np.full(len(field), sep), field // 10 + ord("0"), field % 10 + ord("0")]
    return np.ascontiguousarray(np.stack(columns, axis=1).astype(np.uint8))


_SECOND: Final = np.arange(86_400)
_MILLI: Final = np.arange(1000)
# ``HH:MM:SS`` of each second of a day as one 8-byte word; ``.mmm`` of each millisecond as 4.
_CLOCK: Final = (
    _text_table([_SECOND // 3600, _SECOND // 60 % 60, _SECOND % 60], b"\0::")[:, 1:]
    .copy()
    .view("<u8")
    .reshape(-1)
)
_FRACTION: Final = (
    np.concatenate(
        [
            np.full((1000, 1), ord("."), np.uint8),
            _text_table([_MILLI // 100], b"\0")[:, 2:],
            _text_table([_MILLI % 100], b"\0")[:, 1:],
        ],
        axis=1,
    )
    .view("<u4")
    .reshape(-1)
)


@lru_cache(maxsize=4096)
def _date_prefix(day: int) -> bytes:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d ").encode()


def format_ms(epoch_ms: np.ndarray) -> pa.StringArray:
    """Format epoch milliseconds as record timestamps (``YYYY-MM-DD HH:MM:SS.mmm``), vectorized.

    Every stamp is 23 bytes, so the text is an array of fixed-width structs (date,
    time of day, milliseconds) that numpy fills from lookup tables, one ``strftime``
    per distinct day; the Arrow array is those bytes with fixed offsets. A fifth of
    the cost of joining looked-up strings with Arrow's kernels.
    """
    days, rem = np.divmod(np.asarray(epoch_ms).astype(np.int64, copy=False), _MS_PER_DAY)
    secs, millis = np.divmod(rem, 1000)
    n = len(days)
    first = int(days[0]) if n else 0
    if n and int(days.min()) == first == int(days.max()):
        dates: bytes | np.ndarray = _date_prefix(first)
        widths = {len(dates)}
    else:
        uniq, inverse = np.unique(days, return_inverse=True)
        prefixes = [_date_prefix(int(d)) for d in uniq]
        widths = {len(p) for p in prefixes}
        dates = np.array(prefixes, "S11")[inverse]
    if widths - {11}:  # a year of other than 4 digits: variable width
        rows = zip(days.tolist(), secs.tolist(), millis.tolist(), strict=True)
        text = [f"{_date_prefix(d).decode()}{_clock_text(s, m)}" for d, s, m in rows]
        return pa.array(text, pa.string())
    stamps = np.empty(n, _STAMP)
    stamps["date"] = dates
    stamps["clock"] = _CLOCK[secs]
    stamps["fraction"] = _FRACTION[millis]
    offsets = np.arange(0, _STAMP.itemsize * (n + 1), _STAMP.itemsize, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(stamps))


def _clock_text(secs: int, millis: int) -> str:
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{millis:03d}"


Piece: TypeAlias = "pa.Array | pa.Scalar | str"


def _shortest_is_plain_below() -> float | None:
    """Below which magnitude Arrow writes a whole double without an exponent, or None.

    Arrow's shortest form writes ``9999999999`` but ``1e+10``; the encoder adds ``.0``
    to whole numbers written without an exponent, so it needs the bound. Checked once
    on this pyarrow rather than assumed: if the probe disagrees, every whole number's
    text is scanned for an ``e`` instead (slower, same output).
    """
    probe = [9_999_999_999.0, 1e10, 123.0, 0.0, -0.0, -9_999_999_999.0, -1e10]
    expected = ["9999999999", "1e+10", "123", "0", "-0", "-9999999999", "-1e+10"]
    got = pc.cast(pa.array(probe, pa.float64()), pa.string()).to_pylist()
    return 1e10 if got == expected else None


_PLAIN_BELOW: Final = _shortest_is_plain_below()


def _text_where(text: bytes, present: np.ndarray) -> pa.StringArray:
    """``text`` where ``present``, null elsewhere: built by NumPy, no kernel call per value."""
    n = len(present)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present, dtype=np.int32, out=offsets[1:])
    count = int(offsets[-1])
    offsets *= len(text)
    validity = np.packbits(present, bitorder="little")
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(text * count), pa.py_buffer(validity), n - count
    )


def _float_pieces(name: str, values: pa.Array) -> list[Piece]:
    """Pieces that write ``,"name":<value>`` per row, or nothing where the value is absent.

    Arrow casts a double with double-conversion's *shortest* mode, which reads back
    to the same double. An integral value comes out as ``38043600``; a ``.0`` is
    added so JSON readers see a float, as `petrostream.record.encode` writes it.
    Null and non-finite values are left out: their key and ``.0`` are null pieces
    (the record join writes a null piece as nothing). A column with no absent value
    costs no key array: its key goes in as a constant piece of the record join.
    """
    if values.type != pa.float64():
        values = pc.cast(values, pa.float64())
    numbers = values.to_numpy(zero_copy_only=False)  # nulls read as NaN
    finite = np.isfinite(numbers)
    dense = bool(finite.all())
    if not dense:
        values = pc.if_else(pa.array(finite), values, pa.scalar(None, pa.float64()))
    text = pc.cast(values, pa.string())
    whole = finite & (np.floor(numbers) == numbers)
    suffix: Piece = ""
    if whole.any():
        if _PLAIN_BELOW is not None and bool((np.abs(numbers[whole]) < _PLAIN_BELOW).all()):
            suffix = _text_where(b".0", whole)  # every whole number here has no exponent
        else:  # large whole numbers print as 1e+22: those need no ".0"
            plain = pc.invert(pc.match_substring(text, "e"))
            suffix = pc.if_else(pc.and_(pa.array(whole), plain), ".0", "")
    key = f",{json.dumps(name)}:"
    if dense:
        return [key, text, suffix]
    return [_text_where(key.encode(), finite), text, suffix]  # null where absent


def _label_pieces() -> pa.Array:
    # One JSON fragment per possible label (its class and type together: both are
    # written or neither), looked up by value; undefined labels -> null. One take and
    # one join piece per chunk, not two of each.
    pieces = []
    for label in range(_LABEL_LOOKUP_SIZE):
        ok = label in VALID_LABELS
        pieces.append(f',"event_class":{label},"event_type":"{event_type(label)}"' if ok else None)
    return pa.array(pieces, pa.string())


_LABEL_PIECES = _label_pieces()


def _label_fragments(labels: pa.Array) -> list[Piece]:
    if labels.null_count == len(labels):
        return []
    idx = pc.cast(labels, pa.int64())
    valid = pc.and_(pc.greater_equal(idx, 0), pc.less(idx, _LABEL_LOOKUP_SIZE))
    idx = pc.if_else(valid, idx, pa.scalar(None, pa.int64()))
    return [_LABEL_PIECES.take(idx)]


def encode_records(table: pa.Table, heads: Piece, ts: Piece) -> pa.Array:
    """Encode rows as DESIGN's JSON records, column-wise: one string per row.

    Args:
        table: reading rows (``source_ts``, float sensor columns, ``event_class``, ``state``).
        heads: per row (or one for all) ``{"well_id":…,"instance_id":…,"ts":"`` (`record_head`).
        ts: the injected time per row (or one for all), ``YYYY-MM-DD HH:MM:SS.mmm``.

    A null sensor or label is left out, as `petrostream.record.encode` does; keys
    come in DESIGN's order. One element-wise join builds every record.
    """
    n = table.num_rows
    source = table.column(TS_COLUMN).combine_chunks()
    source_ms = pc.cast(source, pa.int64()).to_numpy(zero_copy_only=False)
    pieces: list[Piece] = [heads, ts, '","source_ts":"', format_ms(source_ms), '"']
    for name in table.column_names:
        if name in (TS_COLUMN, LABEL_COLUMN, STATE_COLUMN):
            continue
        column = table.column(name).combine_chunks()
        if column.null_count == n:
            continue
        pieces.extend(_float_pieces(name, column))
    if LABEL_COLUMN in table.column_names:
        pieces.extend(_label_fragments(table.column(LABEL_COLUMN).combine_chunks()))
    if STATE_COLUMN in table.column_names:
        state = table.column(STATE_COLUMN).combine_chunks()
        if state.null_count < n:
            text = pc.cast(pc.cast(state, pa.int64()), pa.string())
            pieces.append(pc.binary_join_element_wise(',"state":', text, ""))
    pieces.append("}")
    # An absent field is a null piece: written as "" it drops out with its comma.
    return pc.binary_join_element_wise(
        *_joined_constants(pieces), "", null_handling="replace", null_replacement=""
    )


def _joined_constants(pieces: list[Piece]) -> list[Piece]:
    """``pieces`` with each run of constant texts as one: the join's cost is per piece."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        elif not (isinstance(piece, str) and not piece):
            out.append(piece)
    return out


def encode_tail(table: pa.Table) -> pa.Array:
    """The part of each row's record after ``"ts":"<ts>``: ``","source_ts":"…",…}``."""
    return encode_records(table, "", "")


def record_head(instance: Instance) -> str:
    """The start of an instance's records, up to the opening quote of ``ts``."""
    return (
        f'{{"well_id":{json.dumps(instance.well_id)},'
        f'"instance_id":{json.dumps(instance.instance_id)},"ts":"'
    )


def source_millis(table: pa.Table) -> np.ndarray:
    """The ``source_ts`` column as epoch milliseconds (int64)."""
    source = pc.cast(table.column(TS_COLUMN).combine_chunks(), pa.int64())
    return source.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


__all__ = ["encode_records", "encode_tail", "format_ms", "record_head", "source_millis"]
