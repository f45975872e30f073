"""The detector half of ``petrostream run``: local event source -> Lambda handler -> alerts.

`run_detector` wires the local stream, the same handler function the Lambda
runs (`petrostream.handlers.process_stream`) over local backends (SQLite state,
alert store + outbox, local metrics, dead-letter table), the local event
source, outbox redelivery and the lake's ``alerts`` table export.

Files under ``settings.home``: ``realtime.db`` (detection state, notified keys,
dead letters), ``alerts.db`` (alerts, deliveries, export ledger), ``alerts.jsonl``
(the alert log), ``metrics.db``, ``detector-failures.jsonl`` (on-failure destination).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from petrostream.alerts.base import Notifier
from petrostream.alerts.dispatch import OutboxNotifier
from petrostream.alerts.store import AlertStore
from petrostream.handlers.config import HandlerConfig
from petrostream.handlers.local_backends import SqliteDeadLetters
from petrostream.handlers.process_stream import (
    Backends,
    BatchReport,
    build_backends,
    build_local_notifier,
    make_handler,
)
from petrostream.metrics.sqlite_metrics import MetricsSummary, read_metrics
from petrostream.runtime.event_source import (
    CONSUMER,
    Handler,
    LocalEventSource,
    OnFailureFile,
    PagePrefetcher,
)
from petrostream.settings import Settings
from petrostream.stream.base import PageReader

_LOG = logging.getLogger(__name__)

REALTIME_DB: Final = "realtime.db"
ALERTS_DB: Final = "alerts.db"
METRICS_DB: Final = "metrics.db"
FAILURES_FILE: Final = "detector-failures.jsonl"
DETECTOR_LOCK: Final = "detector"  # <home>/locks/detector.lock: one detector per home


@dataclass
class DetectorSummary:
    """What one `run_detector` call did (cumulative while it runs; passed to ``progress``)."""

    records_processed: int = 0
    duplicates_skipped: int = 0
    alerts_by_rule: dict[str, int] = field(default_factory=dict)  # alerts opened, per rule
    notifications: int = 0  # open + closed state changes notified
    dead_letters: int = 0
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    batch_item_failures: int = 0  # records the handler asked to retry
    failed_batches: int = 0  # abandoned to the on-failure destination
    failed_records: int = 0
    alerts_exported: int = 0
    pending_deliveries: int = 0
    # (shard, sequence) of each dead letter counted: a retried batch carries its dead
    # letters again, and the store keeps one per record, so the summary counts one too.
    _letters: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    @property
    def alerts_raised(self) -> int:
        """Alerts opened, all rules."""
        return sum(self.alerts_by_rule.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--format json``, the dashboard)."""
        out = {**asdict(self), "alerts_raised": self.alerts_raised}
        del out["_letters"]
        return out

    def line(self) -> str:
        """One human line for progress and the final summary."""
        rules = ", ".join(f"{r} {n}" for r, n in sorted(self.alerts_by_rule.items())) or "none"
        text = (
            f"{self.records_processed:,} records, {self.alerts_raised} alerts ({rules}), "
            f"{self.dead_letters} dead letters"
        )
        if self.failed_records:
            text += f", {self.failed_records} records abandoned (detector-failures.jsonl)"
        if self.pending_deliveries:
            text += f", {self.pending_deliveries} deliveries pending"
        return text

    def add(self, report: BatchReport) -> None:
        """Fold one handler invocation's report in."""
        self.records_processed += report.processed
        self.duplicates_skipped += report.duplicates
        self.notifications += len(report.alerts)
        rules = Counter(a.rule for a in report.alerts if a.status == "open")
        for rule, n in rules.items():
            self.alerts_by_rule[rule] = self.alerts_by_rule.get(rule, 0) + n
        for letter in report.dead_letters:
            key = (letter.shard_id, letter.sequence_number)
            if key in self._letters:
                continue
            self._letters.add(key)
            self.dead_letters += 1
            reasons = self.dead_letters_by_reason
            reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
        self.batch_item_failures += len(report.failures)


def build_local_backends(
    settings: Settings, *, notifiers: Sequence[Notifier] = ()
) -> tuple[Backends, OutboxNotifier]:
    """The handler's local backends, with extra notifiers beside the log (and webhook)."""
    config = HandlerConfig.from_settings(settings)
    outbox = build_local_notifier(config, extra=notifiers)
    return build_backends(config, notifier=outbox), outbox


def run_detector(
    settings: Settings,
    *,
    drain: bool,
    stop: threading.Event | None = None,
    progress: Callable[[DetectorSummary], None] | None = None,
    notifiers: Sequence[Notifier] = (),
    handler: Handler | None = None,
    export_lake: bool = True,
    idle_s: float = 0.01,
    export_interval_s: float = 1.0,
) -> DetectorSummary:
    """Run the local detector until ``stop`` is set, or until the stream is drained.

    Args:
        settings: home, batch size, retry policy, lake URI.
        drain: process everything the stream holds, export, and return.
        stop: set it (e.g. on Ctrl-C) to return after the current batch.
        progress: called after every poll round that read records, with the summary.
        notifiers: notifiers besides the alert log (and ``alert_webhook_url``),
            e.g. a `RecordingNotifier` in tests; delivered through the outbox.
        handler: replaces the default handler (the Lambda handler over local
            backends), e.g. a trivial one for a benchmark baseline.
        export_lake: write new alerts to ``<lake>/alerts/`` after each round.
        idle_s: pause after a round that found nothing (bounds the alert latency).
        export_interval_s: export alerts to the lake at most this often while running
            (a Parquet write must not delay the next alert); always once at the end.

    Returns:
        What was processed, alerts raised per rule, dead letters and failures.

    Raises:
        ConfigError: another detector runs on this home (two would split the
            stream's records between them and each see half of every well).
    """
    from petrostream.lake.locks import ActorLock

    with ActorLock(settings.home, DETECTOR_LOCK), _fewer_collections():
        return _run_detector(
            settings,
            drain=drain,
            stop=stop,
            progress=progress,
            notifiers=notifiers,
            handler=handler,
            export_lake=export_lake,
            idle_s=idle_s,
            export_interval_s=export_interval_s,
        )


# A batch of 10,000 records allocates ~10 objects a record that live until the batch
# ends; at CPython's default generation-0 threshold (700) the collector then walks the
# same young objects dozens of times a batch: 17 % of the detector's CPU on the real
# 3W set (12.3 -> 10.1 s). Cycles are still collected, less often.
_GC_GEN0_THRESHOLD: Final = 50_000


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the collector's generation-0 threshold while the detector runs, then restore it."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], _GC_GEN0_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _PeriodicExport:
    """Exports new alerts to the lake at most every ``interval_s``, in a thread of its own.

    Inline, the export of the last second's alerts held up the next batch, and every
    alert raised meanwhile: at 1,000 wells and 10,000 readings/s it took 11-83 ms of
    wall time (10-48 ms CPU) once a second (`benchmarks/bench_alert_latency.py`,
    instrumented). Exactly once still holds (`runtime.alerts_lake`: the store's claim
    is one transaction, and the `AlertStore` is shared between threads). A failed
    export is logged and tried again at the next round; the caller's final export
    surfaces a lasting error.
    """

    def __init__(self, export: Callable[[], int], interval_s: float) -> None:
        self._export = export
        self._interval_s = interval_s
        self._due = threading.Event()  # records were processed since the last export
        self._closing = threading.Event()
        self._exported = 0
        self._thread = threading.Thread(target=self._run, name="alerts-export", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Records were processed: export their alerts once the interval has passed."""
        self._due.set()

    def close(self) -> int:
        """Stop after the export under way, if any; return how many rows were exported."""
        self._closing.set()
        self._due.set()
        self._thread.join()
        return self._exported

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._closing.is_set():
                return
            self._due.clear()
            try:
                self._exported += self._export()
            except Exception:  # the lake is unreachable now: the next round tries again
                _LOG.exception("alerts not exported to the lake yet; trying again later")
            if self._closing.wait(self._interval_s):
                return


def _run_detector(
    settings: Settings,
    *,
    drain: bool,
    stop: threading.Event | None,
    progress: Callable[[DetectorSummary], None] | None,
    notifiers: Sequence[Notifier],
    handler: Handler | None,
    export_lake: bool,
    idle_s: float,
    export_interval_s: float,
) -> DetectorSummary:
    from petrostream.arrow_startup import skip_pandas_probe
    from petrostream.stream.factory import open_checkpoints, open_stream

    # Before the first pyarrow conversion (the bulk decoder, the alerts' export): it
    # would import pandas, ~0.6 s of a drain's CPU; nothing here hands pyarrow pandas.
    skip_pandas_probe()
    summary = DetectorSummary()
    backends, outbox = build_local_backends(settings, notifiers=notifiers)
    store = outbox.store
    stream = open_stream(settings, "local")
    checkpoints = open_checkpoints(settings, "local")
    prefetch = _prefetcher(settings, backends, stream) if handler is None else None
    if handler is None:
        handler = make_handler(backends, on_report=summary.add)
    source = LocalEventSource(
        stream,
        checkpoints,
        handler,
        on_failure=OnFailureFile(settings.home / FAILURES_FILE),
        consumer=CONSUMER,
        batch_size=settings.batch_size,
        max_retries=settings.max_retry_attempts,
        bisect=settings.bisect_on_error,
        prefetch=prefetch,
    )
    lake = None
    if export_lake:
        from petrostream.lake.factory import open_lake
        from petrostream.runtime.alerts_lake import warm_up

        lake = open_lake(settings)
        warm_up()  # import pyarrow now, not on the first alert

    def export() -> int:
        if lake is None:
            return 0
        from petrostream.runtime.alerts_lake import export_alerts

        return export_alerts(store, lake, codec=settings.parquet_codec)

    periodic = _PeriodicExport(export, export_interval_s) if lake is not None else None

    def after_poll(got: int) -> None:
        outbox.redeliver()
        if got and periodic is not None:
            periodic.poke()
        summary.failed_batches = source.stats.failed_batches
        summary.failed_records = source.stats.failed_records
        if got and progress is not None:
            summary.pending_deliveries = store.pending_deliveries()
            progress(summary)

    try:
        source.run(stop=stop, drain=drain, after_poll=after_poll, idle_s=idle_s)
    finally:
        if periodic is not None:
            summary.alerts_exported += periodic.close()
    try:
        summary.alerts_exported += export()  # what the last rounds raised; its errors surface
    finally:
        summary.pending_deliveries = store.pending_deliveries()
        stream.close()
        if prefetch is not None:
            prefetch.reader.close()
        close = getattr(checkpoints, "close", None)
        if close is not None:
            close()
    return summary


def _prefetcher(settings: Settings, backends: Backends, stream: Any) -> PagePrefetcher | None:
    """A reader of the next page (parsed ahead) for the default handler over the local stream.

    While the handler detects on one page, a thread reads the next one from a stream
    object of its own and parses it (`AheadDecoder`): on the real 3W set that takes
    the stream read and most of the bulk decode (a third of the detector's CPU) off
    the handler's thread. None where the stream reads no pages or nothing bulk-decodes.
    """
    from petrostream.stream.factory import open_stream

    if backends.bulk is None or not isinstance(stream, PageReader):
        return None
    from petrostream.handlers.columnar import AheadDecoder
    from petrostream.handlers.process_stream import BULK_MIN_RECORDS

    decoder = AheadDecoder(min_records=BULK_MIN_RECORDS)
    backends.bulk = decoder
    return PagePrefetcher(
        open_stream(settings, "local"), batch_size=settings.batch_size, prepare=decoder.prepare
    )


@dataclass(frozen=True)
class RealtimeStatus:
    """The real-time layer at a glance (`stream describe`, the dashboard)."""

    metrics: MetricsSummary
    alerts: int
    open_alerts: int
    alerts_by_rule: dict[str, int]
    pending_deliveries: int
    failed_deliveries: int
    dead_letters_by_reason: dict[str, int]
    failed_batches: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        last = self.metrics.last_update
        out["metrics"]["last_update"] = None if last is None else last.isoformat()
        return out


def realtime_status(settings: Settings) -> RealtimeStatus:
    """Read the detector's local stores (never creates them when absent)."""
    home = settings.home
    metrics = read_metrics(home / METRICS_DB)
    alerts = open_ = pending = failed = 0
    by_rule: dict[str, int] = {}
    if (home / ALERTS_DB).exists():
        store = AlertStore(home / ALERTS_DB)
        try:
            s = store.summary()
        finally:
            store.close()
        alerts, open_, by_rule = s.alerts, s.open_alerts, s.by_rule
        pending, failed = s.pending_deliveries, s.failed_deliveries
    dead: dict[str, int] = {}
    if (home / REALTIME_DB).exists():
        dead = SqliteDeadLetters(home / REALTIME_DB).count_by_reason()
    failed_batches = len(OnFailureFile(home / FAILURES_FILE).read())
    return RealtimeStatus(metrics, alerts, open_, by_rule, pending, failed, dead, failed_batches)
