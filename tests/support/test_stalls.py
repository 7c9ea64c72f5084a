"""The suite's stall rule itself (tests/support/stalls.py), on an inner pytest run in a
subprocess that stops itself with SIGSTOP for a second, as a busy host would."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INNER_TESTS = """
import os
import subprocess

COUNT = {"stalled_then_failed": 0, "failed": 0}


def stall_for_a_second():
    # A helper process stops this one and lets it go on a second later.
    subprocess.Popen(
        ["sh", "-c", f"kill -STOP {os.getpid()}; sleep 1; kill -CONT {os.getpid()}"]
    ).wait()


def test_stalled_then_failed():
    COUNT["stalled_then_failed"] += 1
    if COUNT["stalled_then_failed"] == 1:
        stall_for_a_second()
        assert False, "a timing the stall broke"


def test_failed_without_a_stall():
    COUNT["failed"] += 1
    assert False, f"attempt {COUNT['failed']}"


def test_stalled_and_passed():
    stall_for_a_second()
"""


def test_only_a_failure_after_a_stall_is_run_again(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_inner=INNER_TESTS)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent.parent))  # support.stalls

    result = pytester.runpytest_subprocess("-p", "support.stalls", "-ra")

    assert result.parseoutcomes() == {"passed": 2, "failed": 1, "rerun": 1}
    result.stdout.fnmatch_lines(
        [
            "*stalls of the test process over 0.5 s: 2, in total 2.* s; the longest:",
            "  1.* s (process CPU 0.* s*): test_inner.py::test_stalled_*",
            "  1.* s (process CPU 0.* s*): test_inner.py::test_stalled_*",
            "*re-run after the process stalled 1.* s (process CPU 0.* s*): "
            "test_inner.py::test_stalled_then_failed",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_failed_without_a_stall*attempt 1"])
    assert "attempt 2" not in result.stdout.str()
