"""Issue 12.2: the state codecs with and without orjson (the lean Lambda zip has none).

orjson writes a well's state and a shard object's index where it imports; the stdlib
where it does not. Either must read what the other wrote, to the same state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from petrostream.detect.base import DetectionState, Detector
from petrostream.handlers.shard_state import _Well, decode_shard, encode_shard
from petrostream.testing.readings import BAR, step

SHARD = "shardId-000000000000"

# Runs in a fresh interpreter that cannot import orjson: writes a state and a shard object
# with the stdlib, and reads back the ones this process wrote with orjson.
_WITHOUT_ORJSON = """
import sys
sys.modules["orjson"] = None
from pathlib import Path
from petrostream.detect import base
from petrostream.handlers import shard_state
assert base.orjson is None
out = Path(sys.argv[1])
theirs = base.DetectionState.from_bytes((out / "state.orjson").read_bytes())
(out / "state.stdlib").write_bytes(theirs.to_bytes())
wells = shard_state.decode_shard((out / "shard.orjson").read_bytes())
(out / "shard.stdlib").write_bytes(shard_state.encode_shard(wells))
"""


def _busy_state() -> DetectionState:
    # a pressure drop of 40 bar: an open alert, an incident, baselines and history
    readings = step(4 * 3600, at_s=3 * 3600, sensor="p_pdg", by=-40 * BAR, well_id="WELL-00001")
    state, alerts = Detector().detect(DetectionState(), readings)
    assert alerts
    return state


def test_states_written_with_and_without_orjson_read_back_the_same(tmp_path: Path) -> None:
    # given a busy well's state and its shard object, written with orjson
    state = _busy_state()
    mine = state.to_bytes()
    wells = {"WELL-00001": _Well(7, {SHARD: "4965" + "0" * 52}, mine)}
    (tmp_path / "state.orjson").write_bytes(mine)
    (tmp_path / "shard.orjson").write_bytes(encode_shard(wells))
    # when a process without orjson reads them and writes them again
    subprocess.run([sys.executable, "-c", _WITHOUT_ORJSON, str(tmp_path)], check=True, timeout=120)
    # then it wrote the same document, which this process reads to the same state
    theirs = (tmp_path / "state.stdlib").read_bytes()
    assert json.loads(theirs) == json.loads(mine)
    assert DetectionState.from_bytes(theirs) == state
    assert decode_shard((tmp_path / "shard.stdlib").read_bytes()) == wells
