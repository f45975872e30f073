"""The synthetic 3W generator: layout, determinism, labels and signatures, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from petrostream import schema
from petrostream.dataset import discover, read_instance, synthesize
from petrostream.dataset.synth import NO_TRANSIENT
from petrostream.errors import ConfigError


def _table(path: Path) -> pa.Table:
    [instance] = discover([path])
    batches = list(read_instance(instance))
    assert all(b.rejects == [] for b in batches)
    return pa.concat_tables(b.table for b in batches)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    args = {"wells": 2, "hours": 0.5, "fmt": fmt, "version": 2, "instance_hours": 0.25}
    synthesize(tmp_path / "a", seed=7, **args)  # type: ignore[arg-type]
    synthesize(tmp_path / "b", seed=7, **args)  # type: ignore[arg-type]
    synthesize(tmp_path / "c", seed=8, **args)  # type: ignore[arg-type]
    first, again, other = (_tree_bytes(tmp_path / x) for x in "abc")
    assert len(first) == 4
    assert first == again
    assert first != other


def test_tree_layout_and_file_names(tmp_path: Path) -> None:
    paths = synthesize(tmp_path, wells=3, hours=1, seed=1, fmt="csv", version=1, events=[0, 2])
    assert len(paths) == 3
    for path in paths:
        instance = discover([path])[0]
        assert path.parent.parent == tmp_path
        assert instance.class_folder == int(path.parent.name)
        assert instance.source == "real"
        assert instance.well_id.startswith("WELL-000")
        table = _table(path)
        assert table.num_rows == 3600
        stamps = table.column("source_ts").to_pylist()
        assert stamps[0] == instance.start  # the name's start is the first reading
        assert (stamps[-1] - stamps[0]).total_seconds() == 3599  # 1 Hz
    assert {p.parent.name for p in paths} == {"0", "2"}


def test_csv_has_the_3w_1x_header(tmp_path: Path) -> None:
    [path] = synthesize(tmp_path, wells=1, hours=0.01, seed=1, fmt="csv", version=1, events=[0])
    header = path.read_text().splitlines()[0]
    assert header == "timestamp," + ",".join(schema.V1_TAGS) + ",class"


def test_parquet_is_laid_out_as_3w_2x(tmp_path: Path) -> None:
    [path] = synthesize(tmp_path, wells=1, hours=0.1, seed=1, fmt="parquet", version=2, events=[5])
    parquet = pq.ParquetFile(path)
    pandas_meta = json.loads(parquet.schema_arrow.metadata[b"pandas"])
    assert pandas_meta["index_columns"] == ["timestamp"]
    assert parquet.metadata.row_group(0).column(0).compression == "BROTLI"
    frame = pd.read_parquet(path)
    assert frame.index.name == "timestamp"
    assert str(frame["class"].dtype) == "Int64"
    assert str(frame["state"].dtype) == "Int64"
    assert list(frame.columns) == [*schema.V2_TAGS, "class", "state"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_reads_back_what_was_written(tmp_path: Path, fmt: str) -> None:
    # given a generated instance, and what pandas reads from it independently
    [path] = synthesize(tmp_path, wells=1, hours=0.2, seed=3, fmt=fmt, version=2, events=[8])
    if fmt == "csv":
        expected = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")
    else:
        expected = pd.read_parquet(path)
    # when our reader reads it
    table = _table(path)
    # then every value and label is equal
    assert table.num_rows == len(expected)
    for tag in schema.V2_TAGS:
        got = table.column(schema.to_column(tag)).to_numpy()
        np.testing.assert_array_equal(got, expected[tag].to_numpy(dtype=float), err_msg=tag)
    assert table.column("event_class").to_pylist() == [int(c) for c in expected["class"]]
    assert table.column("state").to_pylist() == [int(s) for s in expected["state"]]
    stamps = table.column("source_ts").cast(pa.timestamp("ms")).to_numpy()
    np.testing.assert_array_equal(stamps, expected.index.to_numpy().astype("datetime64[ms]"))


def test_every_event_class_produces_its_labels(tmp_path: Path) -> None:
    # given one instance of each event class
    events = list(range(1, 10))
    paths = synthesize(tmp_path, wells=1, hours=9, seed=5, fmt="csv", version=1, events=events)
    seen = {}
    for path in paths:
        labels = _table(path).column("event_class").to_numpy()
        seen[int(path.parent.name)] = labels
    assert sorted(seen) == events
    for event, labels in seen.items():
        # then: a normal stretch first, then the event; a transient unless 3W has none
        assert labels[0] == 0
        assert labels[-1] == event
        has_transient = (labels == 100 + event).any()
        assert has_transient == (event not in NO_TRANSIENT)
        order = [0] + ([100 + event] if has_transient else []) + [event]
        assert list(dict.fromkeys(labels.tolist())) == order


def _phases(path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    table = _table(path)
    labels = table.column("event_class").to_numpy()
    values = table.column(column).to_numpy()
    event = labels.max() % 100
    return values[labels == 0], values[labels == event]


def _one(tmp_path: Path, event: int, version: int = 1) -> Path:
    [path] = synthesize(
        tmp_path / str(event), wells=1, hours=1, seed=11, fmt="csv", version=version,
        events=[event],
    )  # fmt: skip
    return path


def test_normal_operation_is_physically_plausible(tmp_path: Path) -> None:
    paths = synthesize(tmp_path, wells=4, hours=1, seed=2, fmt="csv", version=1, events=[0])
    for path in paths:
        table = _table(path)
        pdg, tpt = table.column("p_pdg").to_numpy(), table.column("p_tpt").to_numpy()
        temp = table.column("t_tpt").to_numpy()
        assert ((pdg > 1.9e7) & (pdg < 3.6e7)).all()
        assert ((tpt > 0.9e7) & (tpt < 2.6e7)).all()
        assert ((temp > 55) & (temp < 125)).all()
        assert (pdg > tpt).all()  # pressure falls along the flow path
        assert np.std(pdg) > 0  # noise and drift, not a flat line


def test_event_signatures_follow_the_3w_descriptions(tmp_path: Path) -> None:
    # 2 spurious DHSV closure: P-PDG rises, P-TPT drops sharply
    normal, steady = _phases(_one(tmp_path, 2), "p_pdg")
    assert steady.mean() > normal.mean() * 1.02
    normal, steady = _phases(_one(tmp_path, 2), "p_tpt")
    assert steady.mean() < normal.mean() * 0.6
    # 3 severe slugging: large oscillations of P-TPT
    normal, steady = _phases(_one(tmp_path, 3), "p_tpt")
    assert steady.std() > 20 * normal.std()
    # 5 rapid productivity loss: P-TPT and T-TPT decline
    for column in ("p_tpt", "t_tpt"):
        normal, steady = _phases(_one(tmp_path, 5), column)
        assert steady.mean() < normal.mean()
    # 6 quick restriction in PCK: P-MON-CKP jumps up
    normal, steady = _phases(_one(tmp_path, 6), "p_mon_ckp")
    assert steady.mean() > normal.mean() * 1.2
    # 8 hydrate in production line: P-MON-CKP up, T-JUS-CKP down
    normal, steady = _phases(_one(tmp_path, 8), "p_mon_ckp")
    assert steady.mean() > normal.mean() * 1.2
    normal, steady = _phases(_one(tmp_path, 8), "t_jus_ckp")
    assert steady.mean() < normal.mean() - 5
    # 9 hydrate in service line: QGL drops, P-JUS-CKGL rises
    normal, steady = _phases(_one(tmp_path, 9), "qgl")
    assert steady.mean() < normal.mean() * 0.5
    normal, steady = _phases(_one(tmp_path, 9), "p_jus_ckgl")
    assert steady.mean() > normal.mean() * 1.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wells": 0}, "wells"),
        ({"hours": 0}, "hours"),
        ({"fmt": "json"}, "format"),
        ({"version": 3}, "version"),
        ({"events": [12]}, "event classes"),
    ],
)
def test_bad_arguments_are_config_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"wells": 1, "hours": 1.0, "seed": 0, "fmt": "csv", "version": 1, "events": None}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        synthesize(tmp_path, **args)
    assert not any(tmp_path.iterdir())
