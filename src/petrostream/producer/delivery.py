"""Delivery: ``PutRecords`` batches with retries of the refused records only.

A put may refuse single records while storing the others (Kinesis semantics).
Only the refused ones are sent again, in their original order, after a backoff
with full jitter, before anything newer is sent: a refused record is never
overtaken by a later put of its well.

With ``aggregate`` the readings of one put bound for one shard are packed into one
KPL aggregated record (`petrostream.aggregate`), so the stream bills PUT payload
units (25 KB each) by bytes, not by reading; a reading alone on its shard stays a
plain record. An aggregate is stored or refused whole, one per shard and put (so a
well's readings stay in order through retries), and the counts stay counts of
readings.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from petrostream import aggregate as kpl
from petrostream.errors import PetroStreamError
from petrostream.stream.base import MAX_PUT_BYTES, MAX_PUT_RECORDS, PutRecord, Stream

if TYPE_CHECKING:
    from petrostream.producer.clock import Clock
    from petrostream.producer.summary import ReplaySummary
    from petrostream.stream.local import BlobRequest, PutBlobsResult

PutRequests = Callable[[list["BlobRequest"]], list["PutBlobsResult | None"]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for records a put refused: ``sleep = uniform(0, min(cap, base * 2**n))``.

    "Full jitter" from the AWS Architecture Blog, *Exponential Backoff And Jitter*.

    Attributes:
        max_attempts: puts of one record before replay gives up (first try included).
        base: seconds of the first backoff ceiling.
        cap: longest backoff ceiling, seconds.
    """

    max_attempts: int = 10
    base: float = 0.05
    cap: float = 5.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return rng.uniform(0.0, min(self.cap, self.base * 2 ** (retry - 1)))


class DeliveryError(PetroStreamError):
    """The stream kept refusing records beyond the retry policy; ``summary`` says what got out."""

    def __init__(self, message: str, summary: ReplaySummary) -> None:
        super().__init__(message)
        self.summary = summary


class Delivery:
    """Puts batches into one stream and counts what it stored, per instance.

    Attributes:
        put_per_owner: readings stored per instance index.
        records_put, put_calls, retries, reordered: running counts (of readings).
        stream_records: records the stream stored (fewer than readings when aggregating).
    """

    def __init__(
        self,
        stream: Stream,
        instance_ids: Sequence[str],
        *,
        clock: Clock,
        retry: RetryPolicy,
        rng: random.Random,
        max_batch_records: int = MAX_PUT_RECORDS,
        max_batch_bytes: int = MAX_PUT_BYTES,
        on_stored: Callable[[np.ndarray, np.ndarray], None] | None = None,
        aggregate: bool = False,
    ) -> None:
        """Deliver into ``stream``; ``on_stored(owners, rows)`` hears of every stored reading.

        ``aggregate``: pack the readings bound for one shard into KPL aggregates (the
        shard map is read from the stream once, here).
        """
        self.stream, self.clock, self.retry, self.rng = stream, clock, retry, rng
        self.instance_ids = list(instance_ids)
        self.max_records = min(max_batch_records, MAX_PUT_RECORDS)
        self.max_bytes = min(max_batch_bytes, MAX_PUT_BYTES)
        self.put_per_owner = np.zeros(len(self.instance_ids), dtype=np.int64)
        self.records_put = self.put_calls = self.retries = self.reordered = 0
        self.stream_records = 0
        self.on_stored = on_stored
        self.shard_of: kpl.ShardOf | None = None
        if aggregate:
            self.shard_of = kpl.shard_router(
                (s.shard_id, s.starting_hash_key, s.ending_hash_key) for s in stream.list_shards()
            )
            # room for the aggregates' framing inside one put's 5 MiB
            self.max_bytes = int(self.max_bytes * 0.9)
        blobs = getattr(stream, "put_record_blobs", None)  # the local stream's fast path
        self.put_blobs: Callable[[list[str], list[bytes]], PutBlobsResult] | None = (
            blobs if callable(blobs) else None
        )
        requests = getattr(stream, "put_record_requests", None)  # and its bulk form
        self.put_requests: PutRequests | None = (
            requests if callable(requests) and not aggregate else None
        )

    def shard_numbers(self, well_ids: Sequence[str]) -> list[int] | None:
        """The place of each well's shard in the stream's shard list, where puts can use it.

        Only for a stream that takes several requests in one call (the local stream's
        `put_record_requests`): grouping a chunk's records by shard lets it store each
        request's records of one shard with one copy. None otherwise.
        """
        if self.put_requests is None:
            return None
        shards = self.stream.list_shards()
        place = {s.shard_id: n for n, s in enumerate(shards)}
        shard_of = kpl.shard_router(
            (s.shard_id, s.starting_hash_key, s.ending_hash_key) for s in shards
        )
        return [place[str(shard_of(well))] for well in well_ids]

    def deliver_requests(
        self,
        keys: list[str],
        payload: bytes | memoryview,
        bounds: np.ndarray,
        cuts: Sequence[int],
        owner: np.ndarray,
        rows: np.ndarray,
        summary: ReplaySummary,
    ) -> None:
        """Put records ``cuts[k]:cuts[k + 1]`` as request ``k``, as few stream calls as possible.

        Record ``i`` is ``payload[bounds[i]:bounds[i + 1]]``. All requests go to the
        stream in one call (`LocalStream.put_record_requests`, one transaction); when one
        has refused records, those are retried as `deliver` retries them before the
        requests after it go in a new call: the same order and counts as one `deliver`
        per request.

        Raises:
            DeliveryError: records still refused after ``retry.max_attempts`` puts.
        """
        from petrostream.stream.local import BlobRequest

        assert self.put_requests is not None  # noqa: S101 - only for such streams
        view = memoryview(payload)
        spans = list(zip(cuts[:-1], cuts[1:], strict=True))
        while spans:
            requests = [
                BlobRequest(keys[a:b], view[start:end], bounds[a + 1 : b + 1] - start)
                for a, b in spans
                for start, end in [(int(bounds[a]), int(bounds[b]))]
            ]
            results = self.put_requests(requests)
            stored = 0
            refused = None
            for (a, b), result in zip(spans, results, strict=True):
                if result is None:
                    break
                self.put_calls += 1
                if result.failed:
                    refused = (a, b, result)
                    break
                stored += 1
            if stored:
                first, last = spans[0][0], spans[stored - 1][1]
                self.stream_records += last - first
                self._count(owner[first:last], rows[first:last])
            done = stored
            if refused is not None:
                a, b, result = refused
                blobs = [bytes(view[int(bounds[i]) : int(bounds[i + 1])]) for i in range(a, b)]
                outcome = (result.failed, f"{result.error_code}: {result.error_message}")
                self._deliver(keys[a:b], blobs, owner[a:b], rows[a:b], summary, None, outcome)
                done += 1
            spans = spans[done:]

    def deliver(
        self,
        keys: list[str],
        blobs: list[bytes],
        owner: np.ndarray,
        rows: np.ndarray,
        summary: ReplaySummary,
    ) -> None:
        """Put one batch; retry only the refused records, oldest first, until all are in.

        ``owner`` is each record's instance index, ``rows`` its row number within the
        instance (what a resumed replay skips).

        Raises:
            DeliveryError: records still refused after ``retry.max_attempts`` puts.
        """
        if self.shard_of is not None:
            for round_keys, round_blobs, members in self._pack(keys, blobs):
                self._deliver(round_keys, round_blobs, owner, rows, summary, members)
            return
        self._deliver(keys, blobs, owner, rows, summary, None)

    def _deliver(
        self,
        keys: list[str],
        blobs: list[bytes],
        owner: np.ndarray,
        rows: np.ndarray,
        summary: ReplaySummary,
        members: list[np.ndarray] | None,
        first: tuple[list[int], str] | None = None,
    ) -> None:
        """`deliver`'s retry loop; ``members``: the readings each aggregate holds.

        ``first``: the outcome (refused indices, error) of a first put already made
        and counted as a call (`deliver_requests`).
        """
        pending = np.arange(len(keys))
        attempt = 1
        while True:
            if attempt == 1 and first is not None:
                failed, error = first
            elif attempt == 1:
                failed, error = self._put(keys, blobs)
            else:
                failed, error = self._put([keys[i] for i in pending], [blobs[i] for i in pending])
            if attempt > 1 or first is None:
                self.put_calls += 1
            accepted = np.ones(len(pending), dtype=bool)
            accepted[failed] = False
            stored = _readings(pending[accepted], members)
            self.stream_records += int(accepted.sum())
            self._count(owner[stored], rows[stored])
            if not failed:
                return
            self._note_reordering(keys, pending, failed)
            pending = pending[np.asarray(failed)]
            if attempt >= self.retry.max_attempts:
                self._give_up(_readings(pending, members), owner, error, summary)
            self.retries += len(pending)
            self.clock.sleep(self.retry.backoff(attempt, self.rng))
            attempt += 1

    def _pack(
        self, keys: list[str], blobs: list[bytes]
    ) -> list[tuple[list[str], list[bytes], list[np.ndarray]]]:
        """The batch as rounds of aggregates, at most one per shard in a round.

        One aggregate per shard and put keeps each well's readings in order whatever
        the stream refuses: a refused aggregate is sent again before the next round.
        An aggregate holds what the put has for its shard, up to 1 MiB (Kinesis bills
        25 KB units by size, so one big record costs what several small ones would).
        """
        assert self.shard_of is not None  # noqa: S101 - called only when aggregating
        groups: dict[object, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(self.shard_of(key), []).append(i)
        rounds: list[tuple[list[str], list[bytes], list[np.ndarray]]] = []
        for indices in groups.values():
            start, n = 0, 0
            while start < len(indices):
                size, end = 0, start
                while end < len(indices) and (
                    end == start or size + len(blobs[indices[end]]) + 40 <= kpl.MAX_AGGREGATE_BYTES
                ):
                    size += len(blobs[indices[end]]) + 40
                    end += 1
                part = indices[start:end]
                if n == len(rounds):
                    rounds.append(([], [], []))
                out_keys, out_blobs, members = rounds[n]
                out_keys.append(keys[part[0]])
                out_blobs.append(
                    blobs[part[0]]
                    if len(part) == 1
                    else kpl.aggregate([(keys[i], blobs[i]) for i in part])
                )
                members.append(np.asarray(part, dtype=np.int64))
                start, n = end, n + 1
        return rounds

    def _put(self, keys: list[str], blobs: list[bytes]) -> tuple[list[int], str]:
        """One put: the indices refused (ascending) and the last refusal's ``code: message``.

        The local stream takes the two lists as they are (`LocalStream.put_record_blobs`,
        no object per record: ~1 us a record less); other streams get `PutRecord`s.
        """
        if self.put_blobs is not None:
            outcome = self.put_blobs(keys, blobs)
            return outcome.failed, f"{outcome.error_code}: {outcome.error_message}"
        results = self.stream.put_records(list(map(PutRecord, keys, blobs)))
        failed = [j for j, r in enumerate(results) if r.error_code is not None]
        last = results[failed[-1]] if failed else None
        return failed, "" if last is None else f"{last.error_code}: {last.error_message}"

    def _count(self, owners: np.ndarray, rows: np.ndarray) -> None:
        if len(owners):
            self.put_per_owner += np.bincount(owners, minlength=len(self.put_per_owner))
            self.records_put += len(owners)
            if self.on_stored is not None:
                self.on_stored(owners, rows)

    def _note_reordering(self, keys: list[str], pending: np.ndarray, failed: list[int]) -> None:
        refused: set[str] = set()
        failed_at = set(failed)
        for j, i in enumerate(pending.tolist()):
            key = keys[i]
            if j in failed_at:
                refused.add(key)
            elif key in refused:
                self.reordered += 1
        if self.reordered:
            log.debug("%d records stored ahead of a refused one of their well", self.reordered)

    def _give_up(
        self, pending: np.ndarray, owner: np.ndarray, error: str, summary: ReplaySummary
    ) -> None:
        lost = Counter(self.instance_ids[int(owner[i])] for i in pending)
        summary.undelivered = dict(lost)
        summary.error = (
            f"the stream refused {len(pending)} records {self.retry.max_attempts} times "
            f"({error}); replay stopped"
        )
        raise DeliveryError(
            f"{summary.error}. Slow down (--speed), add shards, or retry later", summary
        )


def _readings(records: np.ndarray, members: list[np.ndarray] | None) -> np.ndarray:
    """The reading indices the put records hold (themselves when nothing is aggregated)."""
    if members is None:
        return records
    if not len(records):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([members[i] for i in records.tolist()])
