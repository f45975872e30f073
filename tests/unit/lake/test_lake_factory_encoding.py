"""`open_lake` carries the double encoding setting to every store it opens."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from petrostream.lake.factory import open_lake
from petrostream.settings import Settings


def test_plain_float_encoding_reaches_files_written_through_open_lake(home: Path) -> None:
    # given a setting that turns BYTE_STREAM_SPLIT off (e.g. for a reader without it)
    settings = Settings(home=home, parquet_float_encoding="plain")
    store = open_lake(settings)
    # when a file is written through the store
    table = pa.table({"p_pdg": pa.array([3.8e7, 3.81e7], pa.float64())})
    store.write_parquet("sensors/dt=2026-01-01/well_id=W/f.parquet", table)
    # then its double column is not BYTE_STREAM_SPLIT
    meta = pq.ParquetFile(Path(settings.lake_uri) / "sensors/dt=2026-01-01/well_id=W/f.parquet")
    encodings = meta.metadata.row_group(0).column(0).encodings
    assert "BYTE_STREAM_SPLIT" not in encodings
