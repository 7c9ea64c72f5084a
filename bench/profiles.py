"""How big and how long each scenario runs: `--quick` (under 2 minutes in all) or full."""

from __future__ import annotations

from dataclasses import dataclass

from bench.dataset import DatasetSpec


@dataclass(frozen=True)
class Profile:
    name: str
    # micro-hit / micro-miss: every (size, concurrency) cell runs each variant `rounds` times.
    micro_rounds: int
    micro_seconds: float
    micro_sizes: tuple[int, ...]
    micro_concurrency: tuple[int, ...]
    # api-read
    dataset: DatasetSpec
    api_rounds: int
    api_seconds: float
    api_warmup: float  # once per server, before the first round (fills the cache)
    api_round_warmup: float  # before each measured window
    api_concurrency: int
    # stampede
    stampede_rounds: int
    stampede_requests: int
    stampede_instances: int
    stampede_load_seconds: float  # how long the simulated database takes to answer
    # outage
    outage_before: float
    outage_seconds: float
    outage_after: float
    # api-floor: meeting reads over this many popular meetings, all cached
    floor_meetings: int = 150


QUICK = Profile(
    name="quick",
    micro_rounds=3,
    micro_seconds=0.15,
    micro_sizes=(200, 2_000, 20_000),
    micro_concurrency=(1, 64),
    dataset=DatasetSpec(users=2_000, meetings=10_000, participants_per_meeting=4),
    api_rounds=3,
    api_seconds=2.0,
    api_warmup=3.0,
    api_round_warmup=0.5,
    api_concurrency=32,
    stampede_rounds=3,
    stampede_requests=1_000,
    stampede_instances=4,
    stampede_load_seconds=0.05,
    outage_before=2.0,
    outage_seconds=4.0,
    outage_after=3.0,
)

FULL = Profile(
    name="full",
    micro_rounds=5,
    micro_seconds=1.0,
    micro_sizes=(200, 2_000, 20_000),
    micro_concurrency=(1, 64),
    dataset=DatasetSpec(users=10_000, meetings=50_000, participants_per_meeting=4),
    api_rounds=5,
    api_seconds=10.0,
    api_warmup=15.0,
    api_round_warmup=1.0,
    api_concurrency=32,
    stampede_rounds=5,
    stampede_requests=1_000,
    stampede_instances=4,
    stampede_load_seconds=0.05,
    outage_before=5.0,
    outage_seconds=10.0,
    outage_after=10.0,
)
