"""`replay --aggregate` end to end on the bundled real sample: same lake, same alerts as plain."""

from __future__ import annotations

import re
from pathlib import Path

from helpers_3w import cli_ok, query_json


def _replay_and_drain(home: Path, sample: Path, *flags: str) -> tuple[str, str]:
    replayed = cli_ok(home, "replay", "--speed", "0", "--quiet", *flags, str(sample))
    drained = cli_ok(home, "run", "--drain")
    return replayed, drained


def _alerts(drained: str) -> str:
    found = re.findall(r"detector: [\d,]+ records, (\d+ alerts \([^)]*\))", drained)
    assert found, drained
    return found[-1]  # the final summary (progress lines come before it)


def test_aggregated_replay_lands_and_alerts_as_the_plain_one(
    tmp_path: Path, bundled_3w_dir: Path
) -> None:
    # given the bundled sample replayed twice into two homes, plain and aggregated
    _, plain = _replay_and_drain(tmp_path / "plain", bundled_3w_dir)
    replayed, packed = _replay_and_drain(tmp_path / "packed", bundled_3w_dir, "--aggregate")

    # then the aggregated replay used far fewer stream records
    rows = int(re.search(r"records\s+([\d,]+) put", replayed).group(1).replace(",", ""))
    records = int(re.search(r"\(([\d,]+) aggregated", replayed).group(1).replace(",", ""))
    assert records * 20 < rows

    # and the detector raised the same alerts, the lake holds every reading exactly once
    assert _alerts(packed) == _alerts(plain)
    for home in ("plain", "packed"):
        cli_ok(tmp_path / home, "crawl")
        (count,) = query_json(
            tmp_path / home,
            "SELECT count(*) AS n, count(DISTINCT (well_id, ts)) AS d FROM sensors",
        )
        assert count["n"] == count["d"] == rows
