"""discover() and instance metadata from paths."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from petrostream.dataset import discover, instance_of
from petrostream.errors import DatasetError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("timestamp,P-PDG,class\n")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _touch(tmp_path / "0" / "WELL-00001_20170201010207.parquet")
    _touch(tmp_path / "2" / "WELL-00011_20140530100015.csv")
    _touch(tmp_path / "2" / "SIMULATED_00042.csv")
    _touch(tmp_path / "8" / "DRAWN_00003.csv")
    _touch(tmp_path / "2" / "notes.md")  # not an instance: ignored inside folders
    _touch(tmp_path / ".cache" / "WELL-00009_20170201010207.csv")  # hidden: ignored
    return tmp_path


def test_metadata_of_a_real_instance(bundled_3w_files: list[Path]) -> None:
    by_stem = {p.stem: p for p in bundled_3w_files}
    instance = instance_of(by_stem["WELL-00011_20140530100015"])
    assert instance.instance_id == "WELL-00011_20140530100015"
    assert instance.well_id == "WELL-00011"
    assert instance.source == "real"
    assert instance.start == datetime(2014, 5, 30, 10, 0, 15, tzinfo=UTC)
    assert instance.class_folder == 2
    assert instance.format == "csv"


@pytest.mark.parametrize(
    ("name", "well", "source", "start"),
    [
        ("9/SIMULATED_00042.csv", "SIMULATED", "simulated", None),
        ("9/SIMULATED_00042.parquet", "SIMULATED", "simulated", None),
        ("9/DRAWN_00003.csv", "DRAWN", "drawn", None),
        ("9/WELL-00001_20170201010207.parquet", "WELL-00001", "real",
         datetime(2017, 2, 1, 1, 2, 7, tzinfo=UTC)),
        ("9/WELL-89999_20240501000000.csv", "WELL-89999", "real",
         datetime(2024, 5, 1, tzinfo=UTC)),
        # PetroStream's own wells (`dataset synth`, the demo) are not counted as real
        ("9/WELL-90001_20240501000000.csv", "WELL-90001", "synthetic",
         datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_metadata_from_the_name(
    tmp_path: Path, name: str, well: str, source: str, start: datetime | None
) -> None:
    instance = instance_of(tmp_path / name)
    assert (instance.well_id, instance.source, instance.start) == (well, source, start)
    assert instance.class_folder == 9


def test_class_folder_only_for_a_digit_parent(tmp_path: Path) -> None:
    assert instance_of(tmp_path / "mydata" / "WELL-00001_20170201010207.csv").class_folder is None
    assert instance_of(tmp_path / "12" / "WELL-00001_20170201010207.csv").class_folder is None


def test_discover_a_whole_tree_sorted(tree: Path) -> None:
    found = discover([tree])
    assert [(i.class_folder, i.path.name) for i in found] == [
        (0, "WELL-00001_20170201010207.parquet"),
        (2, "SIMULATED_00042.csv"),
        (2, "WELL-00011_20140530100015.csv"),
        (8, "DRAWN_00003.csv"),
    ]


def test_discover_a_class_folder_and_a_file_without_duplicates(tree: Path) -> None:
    file = tree / "2" / "SIMULATED_00042.csv"
    found = discover([file, tree / "2", file])
    assert [i.path.name for i in found] == ["SIMULATED_00042.csv", "WELL-00011_20140530100015.csv"]


def test_discover_errors_name_the_path(tree: Path) -> None:
    with pytest.raises(DatasetError, match="missing"):
        discover([tree / "missing"])
    (tree / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty.*no 3W instance"):
        discover([tree / "empty"])
    with pytest.raises(DatasetError, match=r"notes\.md"):
        discover([tree / "2" / "notes.md"])
