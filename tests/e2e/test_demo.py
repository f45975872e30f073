"""`petrostream demo --no-serve` from an empty home: every input row is accounted for."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from helpers_3w import bundled_3w_table

from petrostream.cli.demo import SYNTH_WELLS
from petrostream.dataset import instance_of

BUNDLED = Path(__file__).resolve().parents[2] / "src" / "petrostream" / "data" / "3w"


def data_rows(files: list[Path]) -> int:
    """Rows of 3W CSV files counted independently: every non-blank line after the header."""
    total = 0
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            total += sum(1 for row in reader if row)
    return total


def summary_value(stdout: str, name: str) -> int:
    match = re.search(rf"^\s+{re.escape(name)}\s+([\d,]+)\s", stdout, re.MULTILINE)
    assert match, f"no '{name}' line in the demo summary:\n{stdout}"
    return int(match.group(1).replace(",", ""))


def test_demo_accounts_for_every_row_of_the_sample(demo_run: Any) -> None:
    # given the demo ran from an empty home
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    out = demo_run.stdout

    # then the input is the bundled real sample plus the synthetic fleet it wrote
    real = sorted(BUNDLED.rglob("*.csv"))
    synthetic = sorted((demo_run.home / "sample" / "synth").rglob("*.csv"))
    assert len(real) == len(bundled_3w_table()) >= 2
    assert len(synthetic) == SYNTH_WELLS
    rows = data_rows(real + synthetic)

    # and readings in == readings in the lake == rows of the sample minus rejects
    rejects = summary_value(out, "rejects")
    readings_in = summary_value(out, "readings in")
    in_lake = summary_value(out, "readings in the lake")
    assert summary_value(out, "rows read") == rows
    assert readings_in == in_lake == rows - rejects
    assert data_rows(real) == sum(bundled_3w_table().values())
    # and the summary says how many of the instances were real, from how many wells
    wells = {instance_of(path).well_id for path in real}
    assert f"{len(real)} of them real 3W instances from {len(wells)} wells" in out
    assert f", {len(synthetic)} synthetic)" in out

    # and the files of the sensors table's current snapshot hold exactly that many rows
    # (planned by pyiceberg, read independently)
    from petrostream.lake.tables import open_catalog
    from petrostream.testing.lake import table_files

    files = table_files(open_catalog(demo_run.home, str(demo_run.home / "lake")))
    assert files
    assert sum(pq.read_metadata(f).num_rows for f in files) == in_lake


def test_demo_raises_alerts_on_the_events(demo_run: Any) -> None:
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    alerts = summary_value(demo_run.stdout, "alerts")
    assert alerts > 0
    line = re.search(r"^\s+alerts\s+[\d,]+\s+\((.*)\)$", demo_run.stdout, re.MULTILINE)
    assert line is not None
    by_rule = dict(re.findall(r"(\w+) ([\d,]+)", line.group(1)))
    assert sum(int(n.replace(",", "")) for n in by_rule.values()) == alerts
    # every bundled real instance raised a process alert (`evaluate` detects each of them)
    assert (demo_run.home / "alerts.db").exists()
    lines = (demo_run.home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    logged = [json.loads(line) for line in lines if line.strip()]
    opened = {
        a["instance_id"] for a in logged if a["status"] == "open" and a["category"] == "process"
    }
    assert set(bundled_3w_table()) <= opened


def test_demo_answers_the_seed_query_and_shows_progress(demo_run: Any) -> None:
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    out = demo_run.stdout
    # the seed's question: average pressure per event type over the last hour
    assert "avg_pressure_last_hour:" in out
    answer = out.split("avg_pressure_last_hour:")[-1]
    pattern = r"^\s{4}([A-Z_]+)\s+([\d,]+) readings\s+P-PDG\s+([\d.]+) bar"
    event_rows = re.findall(pattern, answer, re.MULTILINE)
    assert {"NORMAL", "SPURIOUS_CLOSURE_OF_DHSV"} <= {name for name, _, _ in event_rows}
    assert all(100 < float(p) < 1000 for _, _, p in event_rows)  # bar, plausible downhole
    # and the run showed progress on stderr while it worked, and ended with the catalog
    assert "progress:" in demo_run.stderr
    assert (demo_run.home / "catalog.json").exists()
