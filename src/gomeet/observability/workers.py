"""One scrape of `/metrics` for the whole server, with `gomeet serve --workers N`.

The workers of one server share a directory (`GOMEET_METRICS_DIR`, which `serve` makes).
Each worker answers on a unix socket `<dir>/<pid>.sock` with a snapshot of its own registry
(every collector: HTTP, cache, process, Python), and writes the same snapshot to
`<dir>/<pid>.json` every second and when it stops.

A scrape, on whichever worker gets it, merges its own snapshot with every other worker's,
asked over its socket, so that it is exact: after N requests every scrape reports N. A
worker that has gone (killed, restarted by the supervisor) is counted from its last file,
counters and histograms only, so that totals never go back and a dead process's gauges
(memory, open files) are not. Dead workers' files are folded into `retired.json`, under a
lock that every reader of the files also takes, so nothing is counted twice.

Gauges add up over the live workers (memory, open files), except a few that do not:
`process_start_time_seconds` (the earliest), `process_max_fds`, `python_info` and
`gomeet_cache_circuit_open` (the largest: 1 while any worker's breaker is open). Prometheus'
own multiprocess mode was not used: it cannot sum custom collectors (the cache and HTTP
figures are counted in plain in-process lists, off the hot path) nor the process collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gomeet.embedded import process_alive

log = structlog.get_logger("gomeet.metrics")

SNAPSHOT_INTERVAL_S = 1.0
PEER_TIMEOUT_S = 1.0
RETIRED = "retired.json"
CUMULATIVE = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
SMALLEST = frozenset({"process_start_time_seconds"})
LARGEST = frozenset({"process_max_fds", "python_info", "gomeet_cache_circuit_open"})

# A snapshot: [{name, type, help, unit, samples: [[sample name, labels, value], …]}, …]
Snapshot = list[dict[str, Any]]


def _serialised(metrics: Iterable[Metric]) -> Snapshot:
    return [
        {
            "name": metric.name,
            "type": metric.type,
            "help": metric.documentation,
            "unit": metric.unit,
            "samples": [[s.name, s.labels, s.value] for s in metric.samples],
        }
        for metric in metrics
    ]


def snapshot(registry: CollectorRegistry) -> Snapshot:
    return _serialised(registry.collect())


def merge(live: Iterable[Snapshot], gone: Iterable[Snapshot]) -> list[Metric]:
    """Live workers' snapshots in full; gone workers' counters and histograms only."""
    families: dict[str, Metric] = {}
    values: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}

    def add(snap: Snapshot, cumulative_only: bool) -> None:
        for family in snap:
            name, kind = family["name"], family["type"]
            if cumulative_only and kind not in CUMULATIVE:
                continue
            if name not in families:
                families[name] = Metric(name, family["help"], kind, family["unit"])
            for sample_name, labels, value in family["samples"]:
                key = (name, sample_name, tuple(sorted(labels.items())))
                if key not in values:
                    values[key] = value
                elif name in SMALLEST:
                    values[key] = min(values[key], value)
                elif name in LARGEST:
                    values[key] = max(values[key], value)
                else:
                    values[key] += value

    for snap in live:
        add(snap, cumulative_only=False)
    for snap in gone:
        add(snap, cumulative_only=True)
    for (name, sample_name, labels), value in values.items():
        families[name].add_sample(sample_name, dict(labels), value)
    return list(families.values())


def _fold(retired: Snapshot, dead: Snapshot) -> Snapshot:
    """`retired` plus a dead worker's counters and histograms, as one snapshot."""
    return _serialised(merge([], [retired, dead]))


class _Merged(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


class WorkerMetrics:
    """This worker's side of the exchange; `render()` is the whole server's scrape."""

    def __init__(self, directory: Path, registry: CollectorRegistry) -> None:
        self.directory = Path(directory)
        self.registry = registry
        self.pid = os.getpid()
        self._server: asyncio.AbstractServer | None = None
        self._writer: asyncio.Task[None] | None = None

    def _socket(self, pid: int) -> Path:
        return self.directory / f"{pid}.sock"

    def _file(self, pid: int) -> Path:
        return self.directory / f"{pid}.json"

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._socket(self.pid)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = await asyncio.start_unix_server(self._answer, path=str(path))
        self._write()
        self._writer = asyncio.create_task(self._write_every_second())

    async def aclose(self) -> None:
        if self._writer:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._server:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self._socket(self.pid).unlink()
        self._write()  # the last figures, for the workers that stay

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(orjson.dumps(snapshot(self.registry)))
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _write(self) -> None:
        data = orjson.dumps(snapshot(self.registry))
        temporary = self.directory / f".{self.pid}.json.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self._file(self.pid))

    async def _write_every_second(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL_S)
            try:
                self._write()
            except OSError as exc:  # the directory went away (server shutting down)
                log.warning("metrics_snapshot_failed", error=f"{type(exc).__name__}: {exc}")

    async def _ask(self, pid: int) -> Snapshot | None:
        try:
            async with asyncio.timeout(PEER_TIMEOUT_S):
                reader, writer = await asyncio.open_unix_connection(str(self._socket(pid)))
                try:
                    data = await reader.read()
                finally:
                    writer.close()
            answer: Snapshot = orjson.loads(data)
        except (OSError, TimeoutError, orjson.JSONDecodeError):
            return None
        return answer

    def _peers(self) -> set[int]:
        pids = set()
        for path in self.directory.iterdir():
            if path.suffix in (".sock", ".json") and path.stem.isdigit():
                pids.add(int(path.stem))
        pids.discard(self.pid)
        return pids

    def _read(self, path: Path) -> Snapshot:
        try:
            data: Snapshot = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return []
        return data

    def _files(self, unanswered: set[int]) -> list[Snapshot]:
        """Under the lock: fold the dead workers' files into `retired.json`; the retired
        figures and those of workers alive but silent (starting, stopping, busy)."""
        with (self.directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            retired = self._read(self.directory / RETIRED)
            silent = []
            for pid in sorted(unanswered):
                file = self._file(pid)
                if process_alive(pid):
                    silent.append(self._read(file))
                    continue
                if file.exists():
                    retired = _fold(retired, self._read(file))
                    temporary = self.directory / f".{RETIRED}.tmp"
                    temporary.write_bytes(orjson.dumps(retired))
                    os.replace(temporary, self.directory / RETIRED)
                    file.unlink()
                with contextlib.suppress(FileNotFoundError):
                    self._socket(pid).unlink()
            return [retired, *silent]

    async def render(self) -> bytes:
        peers = sorted(self._peers())
        answers = await asyncio.gather(*(self._ask(pid) for pid in peers))
        live = [snapshot(self.registry)] + [a for a in answers if a is not None]
        unanswered = {pid for pid, answer in zip(peers, answers, strict=True) if answer is None}
        gone = self._files(unanswered)
        workers = GaugeMetricFamily(
            "gomeet_metrics_workers", "Worker processes whose live figures this scrape sums."
        )
        workers.add_metric([], len(live))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Merged([*merge(live, gone), workers]))
        return generate_latest(registry)
