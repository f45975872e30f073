"""Issue 16.1: a well's stored state costs fewer DynamoDB write units (2, not 3, measured).

Issue 12.2: the state is compressed once per shard object (`handlers.shard_state`),
no longer one zlib call per well and batch; states stored zlib'd per well still load.
"""

from __future__ import annotations

import math

import pytest

from petrostream.handlers.base import PureDetectionEngine, compress_state, decompress_state
from petrostream.handlers.shard_state import _Well, encode_shard
from petrostream.testing.readings import BAR, step

ITEM_OVERHEAD = 100  # key, version and positions attributes, generously


def _state_after_an_event() -> tuple[PureDetectionEngine, object]:
    # a well whose pressure drops by 40 bar: an open alert, baselines and history in state
    engine = PureDetectionEngine()
    readings = step(4 * 3600, at_s=3 * 3600, sensor="p_pdg", by=-40 * BAR, well_id="WELL-00001")
    state, alerts = engine.detect(engine.load_state(None), readings)
    assert alerts  # the state carries an episode, as a busy well's does
    return engine, state


def test_a_stored_state_reads_back_the_same():
    engine, state = _state_after_an_event()
    stored = engine.dump_state(state)
    assert engine.dump_state(engine.load_state(stored)) == stored


def test_a_state_stored_plain_before_the_upgrade_still_loads():
    engine, state = _state_after_an_event()
    plain = bytes(state.to_bytes())  # type: ignore[attr-defined]
    assert engine.load_state(plain).to_bytes() == plain


def test_compression_saves_write_units_on_a_busy_wells_state():
    engine, state = _state_after_an_event()
    plain = bytes(state.to_bytes())  # type: ignore[attr-defined]
    # the shard object the store writes for this one well, positions and index included
    well = _Well(1, {"shardId-000000000000": "4965" + "0" * 52}, engine.dump_state(state))
    stored = encode_shard({"WELL-00001": well})
    plain_units = math.ceil((len(plain) + ITEM_OVERHEAD) / 1024)
    stored_units = math.ceil((len(stored) + ITEM_OVERHEAD) / 1024)
    print(f"state {len(plain)} B plain ({plain_units} WRU), {len(stored)} B ({stored_units} WRU)")
    assert len(stored) * 1.9 < len(plain)
    assert stored_units < plain_units


def test_a_state_stored_zlib_compressed_by_the_release_before_still_loads():
    engine, state = _state_after_an_event()
    old = compress_state(bytes(state.to_bytes()))  # type: ignore[attr-defined]
    assert old[:1] == b"\x78"
    assert engine.load_state(old) == state


def test_bytes_that_are_no_state_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="neither JSON nor zlib"):
        decompress_state(b"\x00garbage")
    assert decompress_state(compress_state(b'{"v":2}')) == b'{"v":2}'
