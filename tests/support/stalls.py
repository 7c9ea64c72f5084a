"""Stalls of the test process, seen from a watchdog thread.

The suite's timing-sensitive tests (a 250 ms Redis command timeout, "stale for at most 1 s")
assume the process runs. CI once logged every Redis command of a test timing out at once
after 14 s, on a Redis that answers in microseconds. The watchdog sleeps 20 ms at a time and
records every wake-up that came late by more than `threshold` seconds, with the process's CPU
time over the gap and the machine's steal time: a gap with little CPU time of ours means the
process was not scheduled (the machine or its host was busy); a gap full of it means
something in the process held the interpreter. The first stalls it found were of that kind,
and the suite's own: garbage collections of every app the tests had created, which stayed
alive (tests/platform/test_app_lifecycle.py).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import pytest

_TICK = 0.02


@dataclass(frozen=True)
class Stall:
    started: float  # time.monotonic()
    seconds: float
    cpu_seconds: float  # this process's CPU time over the gap
    steal_seconds: float | None  # the machine's steal time over the gap (a VM's host busy)

    def describe(self) -> str:
        steal = "" if self.steal_seconds is None else f", steal {self.steal_seconds:.1f} s"
        return f"{self.seconds:.1f} s (process CPU {self.cpu_seconds:.1f} s{steal})"


def _steal_seconds() -> float | None:
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / 100  # USER_HZ
    except (OSError, IndexError, ValueError):
        return None


class StallWatchdog:
    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.stalls: list[Stall] = []
        self._lock = threading.Lock()
        self._last = (time.monotonic(), time.process_time(), _steal_seconds())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)

    def start(self) -> StallWatchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def since(self, started: float) -> list[Stall]:
        """The stalls that ended after `started` (a monotonic time), one that has just ended
        included (this thread may have resumed before the watchdog's)."""
        self._tick()
        with self._lock:
            return [s for s in self.stalls if s.started + s.seconds >= started]

    def longest_since(self, started: float) -> Stall | None:
        return max(self.since(started), key=lambda s: s.seconds, default=None)

    def _watch(self) -> None:
        self._last = (time.monotonic(), time.process_time(), _steal_seconds())
        while not self._stop.wait(_TICK):
            self._tick()

    def _tick(self) -> None:
        now, cpu, steal = time.monotonic(), time.process_time(), _steal_seconds()
        with self._lock:
            last, last_cpu, last_steal = self._last
            if now - last - _TICK > self.threshold:
                stolen = None if steal is None or last_steal is None else steal - last_steal
                self.stalls.append(Stall(last, now - last, cpu - last_cpu, stolen))
            self._last = (now, cpu, steal)


# The plugin (tests/conftest.py: pytest_plugins). A failure is re-run once, by
# pytest-rerunfailures, only if the process stalled for `threshold` s or more during the failed
# attempt: the timing the test relies on did not hold for reasons outside the code. Any other
# failure fails at once. Every stall and every such re-run is named in the summary.

WATCHDOG = StallWatchdog(threshold=0.5)
_ATTEMPT_STARTED = pytest.StashKey[float]()
_RERUN_AFTER: dict[str, str] = {}
_DURING: dict[Stall, str] = {}  # a stall: the test it happened in


def pytest_sessionstart(session: pytest.Session) -> None:
    WATCHDOG.start()


def pytest_collection_finish(session: pytest.Session) -> None:
    # The modules and objects every test shares, out of the collector's sight: a full
    # collection then scans what the tests create only (in tests/meetings, pauses of 0.2 to
    # 0.3 s became none over 0.2 s).
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.flaky(reruns=1, condition=_stalled_during(item)))


def _stalled_during(item: pytest.Item) -> Callable[[BaseException | None], bool]:
    def stalled(error: BaseException | None) -> bool:
        if error is None:  # pytest-rerunfailures asks after a passed attempt too
            return False
        stall = WATCHDOG.longest_since(item.stash[_ATTEMPT_STARTED])
        if stall is not None:
            _RERUN_AFTER.setdefault(item.nodeid, stall.describe())
        return stall is not None

    return stalled


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_ATTEMPT_STARTED] = time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None]:
    try:
        return (yield)
    finally:
        for stall in WATCHDOG.since(item.stash[_ATTEMPT_STARTED]):
            _DURING.setdefault(stall, item.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    WATCHDOG.stop()
    stalls = sorted(WATCHDOG.stalls, key=lambda s: s.seconds, reverse=True)
    if stalls:
        terminalreporter.write_line(
            f"stalls of the test process over {WATCHDOG.threshold} s: {len(stalls)}, "
            f"in total {sum(s.seconds for s in stalls):.1f} s; the longest:"
        )
    for stall in stalls[:10]:
        during = _DURING.get(stall, "between tests")
        terminalreporter.write_line(f"  {stall.describe()}: {during}")
    for nodeid, described in _RERUN_AFTER.items():
        terminalreporter.write_line(f"re-run after the process stalled {described}: {nodeid}")
