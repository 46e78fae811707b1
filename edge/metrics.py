"""Prometheus text exposition of the edge: requests by outcome and a latency histogram.

Hand-written (no client library): a handful of counters does not need one, and granian runs
several worker processes. Each worker keeps its counters in memory and
writes a snapshot to a folder shared by the workers of one server (edge/serverfolder.py) about
once a second; ``/metrics``, answered by whichever worker gets the request,
adds its own live counters to the other workers' latest snapshots. So the totals cover every
worker, the other workers' part at most ~1 s old; snapshots of workers that died stay, so the
counters never go backwards while the server lives.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
from pathlib import Path

import msgspec

from edge.serverfolder import alive, prune_stale, server_folder

OUTCOMES = (
    "redirect",  # 302 to the merged destination (a person)
    "preview",  # 200 preview page (fetcher, bot, prefetch)
    "fallback",  # 302 to the domain's fallback_url (unknown code or archived link)
    "not_found",  # 404: unknown code, bad code, unknown host
    "gone",  # 410: archived link without a fallback
    "uri_too_long",  # 414
    "unavailable",  # 503: Redis did not answer
)
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics(msgspec.Struct):
    """One worker's counters (also the shape of its snapshot file)."""

    requests: dict[str, int] = msgspec.field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    merge_fallbacks: int = 0
    # Redis outages (edge/outage.py) and what the worker did without Redis
    outages: int = 0  # times this worker lost Redis
    memory_answers: int = 0  # redirects and previews answered from memory during an outage
    clicks_spooled: int = 0  # clicks written to the local spool (edge/spool.py)
    clicks_replayed: int = 0  # spooled clicks sent to the stream once Redis was back
    clicks_unrecorded: int = 0  # clicks answered but not recorded: the spool was not writable
    clicks_past_deadline: int = 0  # the script ran too late to record; the edge spooled them
    # gauges of the memory all workers share (set when the snapshot is written): not summed
    memory_entries: int = 0  # answers remembered
    memory_bytes: int = 0  # bytes of its file in use
    buckets: list[int] = msgspec.field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    latency_sum: float = 0.0
    latency_count: int = 0

    def observe(self, outcome: str, seconds: float) -> None:
        self.requests[outcome] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1  # the last bucket is +Inf
        self.latency_sum += seconds
        self.latency_count += 1

    def add(self, other: Metrics) -> None:
        for k, v in other.requests.items():
            if k in self.requests:
                self.requests[k] += v
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _SHARED_GAUGES:
            setattr(self, name, max(getattr(self, name), getattr(other, name)))
        for i, v in enumerate(other.buckets[: len(self.buckets)]):
            self.buckets[i] += v
        self.latency_sum += other.latency_sum
        self.latency_count += other.latency_count


# name in Metrics, Prometheus name, help
_SERIES = (
    ("merge_fallbacks", "merge_fallbacks_total", "Clicks whose merged URL failed its check."),
    ("outages", "redis_outages_total", "Times an edge worker lost Redis (summed over workers)."),
    (
        "memory_answers",
        "memory_answers_total",
        "Redirects and previews answered from a worker's memory while Redis could not answer.",
    ),
    ("clicks_spooled", "clicks_spooled_total", "Clicks written to the local spool."),
    ("clicks_replayed", "clicks_replayed_total", "Spooled clicks sent to the click stream."),
    (
        "clicks_unrecorded",
        "clicks_unrecorded_total",
        "Clicks answered but not recorded (the spool could not be written).",
    ),
    (
        "clicks_past_deadline",
        "clicks_past_deadline_total",
        "Clicks the script did not record because it ran past its deadline (spooled instead).",
    ),
)
_COUNTERS = tuple(name for name, _, _ in _SERIES)
_SHARED_GAUGES = ("memory_entries", "memory_bytes")

FOLDER_PREFIX = "smartlinks-edge-metrics-"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Metrics)


class SharedMetrics:
    """This worker's metrics plus the snapshots of its sibling workers."""

    def __init__(self, folder: Path | None = None) -> None:
        self.local = Metrics()
        self.folder = folder or server_folder(FOLDER_PREFIX)
        self.path = self.folder / f"{os.getpid()}.json"
        self._written = b""
        # The periodic snapshot runs in a thread (its rename can take milliseconds); the last
        # one, at shutdown, waits for it rather than racing it over the same temporary file.
        self._writing = threading.Lock()

    def prune_stale(self) -> None:
        """Remove the snapshot folders of edge servers that are gone (their main process)."""
        prune_stale(self.folder, FOLDER_PREFIX)

    def write_snapshot(self) -> None:
        """Called about once a second by a background task; cheap when nothing changed."""
        with self._writing:
            self._write()

    def _write(self) -> None:
        data = _encoder.encode(self.local)
        if data == self._written:
            return
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(self.path)
            self._written = data

    def totals(self) -> Metrics:
        total = Metrics()
        total.add(self.local)
        with contextlib.suppress(OSError):
            for path in self.folder.glob("*.json"):
                if path != self.path:
                    with contextlib.suppress(OSError, msgspec.DecodeError):
                        other = _decoder.decode(path.read_bytes())
                        if path.stem.isdigit() and not alive(int(path.stem)):
                            other.memory_entries = other.memory_bytes = 0  # not live
                        total.add(other)
        return total

    def render(self) -> bytes:
        t = self.totals()
        lines = [
            "# HELP smartlinks_edge_requests_total Short-link requests answered, by outcome.",
            "# TYPE smartlinks_edge_requests_total counter",
        ]
        lines += [
            f'smartlinks_edge_requests_total{{outcome="{k}"}} {v}' for k, v in t.requests.items()
        ]
        for name, series, text in _SERIES:
            lines += [
                f"# HELP smartlinks_edge_{series} {text}",
                f"# TYPE smartlinks_edge_{series} counter",
                f"smartlinks_edge_{series} {getattr(t, name)}",
            ]
        lines += [
            "# HELP smartlinks_edge_memory_entries Answers remembered for outages (shared by the"
            " workers).",
            "# TYPE smartlinks_edge_memory_entries gauge",
            f"smartlinks_edge_memory_entries {t.memory_entries}",
            "# HELP smartlinks_edge_memory_bytes Bytes of the remembered answers' file in use.",
            "# TYPE smartlinks_edge_memory_bytes gauge",
            f"smartlinks_edge_memory_bytes {t.memory_bytes}",
            "# HELP smartlinks_edge_request_duration_seconds Time to answer a short-link request.",
            "# TYPE smartlinks_edge_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*BUCKETS, None), t.buckets, strict=True):
            cumulative += count
            le = "+Inf" if bound is None else repr(bound)
            lines.append(
                f'smartlinks_edge_request_duration_seconds_bucket{{le="{le}"}} {cumulative}'
            )
        lines += [
            f"smartlinks_edge_request_duration_seconds_sum {t.latency_sum:.6f}",
            f"smartlinks_edge_request_duration_seconds_count {t.latency_count}",
        ]
        return ("\n".join(lines) + "\n").encode()
