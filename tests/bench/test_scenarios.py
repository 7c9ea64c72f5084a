"""The in-process scenarios, shrunk to a few milliseconds, against a real Redis.

These check what the harness reports (every variant measured and correct, loads counted),
never how fast anything is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import orjson
import pytest
from bench.micro import make_value, run_micro
from bench.profiles import QUICK, Profile
from bench.servers import BenchRedis
from bench.stampede import run_stampede

TINY = dataclasses.replace(
    QUICK,
    micro_rounds=2,
    micro_seconds=0.02,
    micro_sizes=(200, 20_000),
    micro_concurrency=(1, 4),
    stampede_rounds=1,
    stampede_requests=200,
    stampede_instances=2,
    stampede_load_seconds=0.05,
)
VARIANTS = ["raw", "ours", "ours+l1", "cashews", "aiocache"]


@pytest.fixture(scope="module")
def bench_redis() -> Iterator[BenchRedis]:
    with BenchRedis() as redis:
        yield redis


@pytest.mark.parametrize("size", [200, 2_000, 20_000])
def test_values_have_the_requested_json_size(size: int) -> None:
    assert len(orjson.dumps(make_value(size))) == size


@pytest.mark.parametrize("kind", ["hit", "miss"])
async def test_micro_measures_every_variant_in_every_cell(
    kind: str, bench_redis: BenchRedis
) -> None:
    profile: Profile = TINY

    result = await run_micro(kind, profile, bench_redis.url, bench_redis.restartable)

    assert result["scenario"] == f"micro-{kind}"
    cells = {(c["size"], c["concurrency"]): c for c in result["cells"]}
    assert set(cells) == {(200, 1), (200, 4), (20_000, 1), (20_000, 4)}
    for cell in cells.values():
        variants = {v["name"]: v for v in cell["variants"]}
        assert list(variants) == VARIANTS
        assert variants["raw"]["ratio"] == 1.0
        assert all(v["rounds"] == 2 and v["ops_per_s"] > 0 for v in variants.values())


async def test_micro_miss_leaves_no_benchmark_keys_behind(bench_redis: BenchRedis) -> None:
    from redis.asyncio import Redis

    await run_micro("miss", TINY, bench_redis.url, bench_redis.restartable)

    client = Redis.from_url(bench_redis.url)
    try:
        assert [k async for k in client.scan_iter(match="*bench:*")] == []
    finally:
        await client.aclose()


async def test_stampede_counts_every_load(bench_redis: BenchRedis) -> None:
    result = await run_stampede(TINY, bench_redis.url)

    loads = result["loads_per_round"]
    assert loads["ours"] == [1]
    assert loads["ours+l1"] == [1]
    assert loads["naive"][0] > 1  # no protection: many of the 200 requests load
    assert result["failed_per_round"] == {"naive": [0], "ours": [0], "ours+l1": [0]}
