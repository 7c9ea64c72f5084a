"""The consistency checker's short form: two instances (in-process tier off and on) and a
`GOMEET_CACHE=off` oracle on one database, SQLite and PostgreSQL; and the checker's own
self-tests, so that its zero means something.

The long form is `scripts/consistency_check.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from consistency.checker import Checker, CheckerConfig
from consistency.history import ABSENT, Observation, Register, RegisterLog, Write, judge
from consistency.instances import cluster, settle_time
from consistency.observe import meeting_name
from consistency.report import Report

SHORT = 4.0  # seconds of load per run


def assert_meaningful(report: Report) -> None:
    """The run did what it says: load on every endpoint and both instances, no errors."""
    print(report.summary())
    assert not report.errors, report.errors[:5]
    assert report.reads >= 100 and report.writes >= 20, report.summary()
    assert {"A", "B"} <= set(report.by_instance)
    read_endpoints = {e for e, kind in report.ops if kind == "read"}
    assert len(read_endpoints) == 10, read_endpoints
    write_endpoints = {e for e, kind in report.ops if kind == "write"}
    assert len(write_endpoints) == 9, write_endpoints


@pytest.mark.parametrize("l1", [False, True], ids=["l1-off", "l1-on"])
async def test_no_stale_reads_and_no_stale_entries(
    app_client: Callable[..., Any], l1: bool
) -> None:
    async with cluster(app_client, l1=l1) as (instances, oracle):
        config = CheckerConfig(duration=SHORT, settle=settle_time(l1), seed=7)
        report = await Checker(instances, oracle, config).run()
    assert_meaningful(report)
    assert report.stale_reads == [], report.summary()
    assert report.stale_entries == [], report.summary()


async def test_the_checker_reports_a_planted_stale_value(
    app_client: Callable[..., Any], clean_redis: Redis
) -> None:
    """Self-test: a meeting's cached details set back to its first name, by hand, after
    the writes: both a stale read and a stale entry, on both instances."""
    async with cluster(app_client, l1=False) as (instances, oracle):
        checker = Checker(instances, oracle, CheckerConfig(duration=1.0, settle=0.2, seed=3))

        async def plant() -> None:
            assert checker.population is not None
            meeting = checker.population.meetings[0]
            await instances[0].client.get(
                f"/api/v1/meetings/{meeting.id}", headers=meeting.host.auth
            )
            key = f"meeting:details:{meeting.id}"
            details = orjson.loads(await clean_redis.get(key) or b"null")
            details["name"] = meeting_name(meeting.tag, 0)
            assert await clean_redis.set(key, orjson.dumps(details), keepttl=True)

        report = await checker.run(before_final=plant)
    print(report.summary())
    assert checker.population is not None
    meeting = checker.population.meetings[0]
    planted = [s for s in report.stale_reads if s.register.kind == "meeting_name"]
    assert {s.register.label for s in planted} == {meeting.tag}
    assert {s.instance for s in planted} == {"A", "B"}
    assert "GET /meetings/{id}" in {s.endpoint for s in planted}
    assert all(s.seen == meeting_name(meeting.tag, 0) and s.lag > 0 for s in planted)
    entries = [e for e in report.stale_entries if e.endpoint == "GET /meetings/{id}"]
    assert {(e.label, e.instance) for e in entries} == {(meeting.tag, "A"), (meeting.tag, "B")}
    assert all(e.difference.startswith("data.name:") for e in entries)


REG = Register("meeting_name", "m", "m1")


def history(*spans: tuple[str, float, float | None]) -> RegisterLog:
    log = RegisterLog("v0")
    for value, start, end in spans:
        log.writes.append(Write(REG, value, start, end, failed=end is None))
    return log


@pytest.mark.parametrize(
    ("seen", "start", "end", "grace", "stale"),
    [
        ("v1", 2.5, 2.6, 0.0, False),  # the last acknowledged write
        ("v0", 2.5, 2.6, 0.0, True),  # older than an acknowledged write
        ("v2", 2.5, 3.1, 0.0, False),  # a write that began during the read
        ("v2", 2.5, 2.9, 0.0, True),  # a write not yet begun: from the future
        ("v0", 1.5, 1.6, 0.0, False),  # the write was still in flight when the read began
        ("v0", 2.5, 2.6, 0.6, False),  # within the in-process tier's window
        ("v0", 2.5, 2.6, 0.4, True),  # beyond it
    ],
)
def test_judge_a_read_against_one_register(
    seen: str, start: float, end: float, grace: float, stale: bool
) -> None:
    log = history(("v1", 1.0, 2.0), ("v2", 3.0, 4.0))
    verdict = judge(Observation.exactly(REG, seen), log, start, end, grace)
    assert (verdict is not None) is stale
    if verdict is not None:
        assert verdict.expected == "v1"


def test_judge_reports_the_lag_and_a_value_never_written() -> None:
    log = history(("v1", 1.0, 2.0), ("v2", 3.0, 4.0), ("v3", 5.0, 6.0))
    lagging = judge(Observation.exactly(REG, "v1"), log, 7.0, 7.1)
    assert lagging is not None and lagging.lag == pytest.approx(3.0)  # missed v2, acked at 4
    unknown = judge(Observation.exactly(REG, "v9"), log, 7.0, 7.1)
    assert unknown is not None and math.isinf(unknown.lag)


def test_judge_a_failed_write_counts_as_in_flight_forever() -> None:
    log = history(("v1", 1.0, None))
    assert judge(Observation.exactly(REG, "v1"), log, 9.0, 9.1) is None
    assert judge(Observation.exactly(REG, "v0"), log, 9.0, 9.1) is None


def test_judge_a_predicate_observation() -> None:
    member = Register("member", "u:m", "u1 in m1")
    log = RegisterLog(ABSENT, [Write(member, True, 1.0, 2.0), Write(member, False, 3.0, 4.0)])
    listed = Observation(member, "listed", lambda v: v != ABSENT)
    assert judge(listed, log, 5.0, 5.1) is None
    assert judge(Observation.exactly(member, ABSENT), log, 5.0, 5.1) is not None
    assert judge(Observation.exactly(member, True), log, 5.0, 5.1) is not None
