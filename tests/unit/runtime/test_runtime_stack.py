"""The local stack (lake writer + detector in threads): drain, outside stop switch, errors."""

from __future__ import annotations

import threading

import pytest

from petrostream.errors import ConfigError
from petrostream.lake.locks import ActorLock
from petrostream.lake.tables import open_catalog
from petrostream.runtime.stack import Stack, run_stack
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import duckdb_count, put_readings, reading, table_files


def fill(settings: Settings, n: int) -> None:
    with LocalStream(settings.stream_path, name="petrostream", shard_count=2) as stream:
        put_readings(stream, [reading(i) for i in range(n)])


def test_drain_runs_both_consumers_to_the_end_of_the_stream(settings: Settings) -> None:
    # given
    fill(settings, 120)
    seen: set[str] = set()

    # when
    summary = run_stack(
        settings, drain=True, stop=threading.Event(), progress=lambda n, _: seen.add(n)
    )

    # then: every reading committed once, every record seen by the detector
    assert summary.lake is not None and summary.lake.readings == 120
    assert summary.detector is not None and summary.detector.records_processed == 120
    assert duckdb_count(table_files(open_catalog(settings.home, settings.lake_uri))) == 120
    assert seen == {"lake", "detector"}


def test_only_runs_one_consumer(settings: Settings) -> None:
    fill(settings, 10)
    summary = run_stack(settings, drain=True, stop=threading.Event(), only="lake")
    assert summary.lake is not None and summary.detector is None


def test_setting_the_stop_event_stops_a_running_stack_and_commits(settings: Settings) -> None:
    # given: a stack running (not draining) that has read the stream
    fill(settings, 50)
    stop = threading.Event()
    read = threading.Event()

    def progress(name: str, value: object) -> None:
        if name == "lake" and getattr(value, "records", 0) == 50:
            read.set()

    stack = Stack(settings, drain=False, stop=stop, progress=progress).start()
    assert read.wait(30), "the lake writer never reported reading the stream"

    # when: the caller (a signal handler, the demo) sets the switch
    summary = stack.stop()

    # then: both returned and the writer committed its buffer on the way out
    assert not stack.running()
    assert summary.lake is not None and summary.lake.readings == 50
    assert duckdb_count(table_files(open_catalog(settings.home, settings.lake_uri))) == 50


def test_an_error_in_one_consumer_stops_the_other_and_is_raised(settings: Settings) -> None:
    # given: another lake writer holds the home's lock; the detector would run forever
    fill(settings, 10)
    stop = threading.Event()
    # when / then
    with (
        ActorLock(settings.home, "lake-writer"),
        pytest.raises(ConfigError, match="another lake-writer"),
    ):
        run_stack(settings, drain=False, stop=stop)
    assert stop.is_set()


def test_an_unknown_consumer_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown consumer"):
        Stack(settings, drain=True, stop=threading.Event(), only="nope")
