"""The benchmark harness (issue 4), outside the product: `python -m bench` from a source
checkout (`make bench`), or `gomeet bench` there, which forwards here.

Scenarios: micro-hit, micro-miss (the cache layer against raw redis-py, cashews and
aiocache), api-read (the served API with the cache off, on, and on with the in-process
tier), api-floor (our cached read against a bare FastAPI app doing the same work),
stampede and outage. Every scenario runs its variants interleaved in rounds and
reports medians and per-round ratios; `report` renders the table, the JSON and the docs.
"""

from __future__ import annotations

import os
from pathlib import Path

SCENARIOS = ("micro-hit", "micro-miss", "api-read", "api-floor", "stampede", "outage")
ROOT = Path(__file__).resolve().parents[1]  # the checkout holding bench/ (and docs/)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a harness subprocess: `python -m bench.…` finds this package."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        **(extra or {}),
    }
