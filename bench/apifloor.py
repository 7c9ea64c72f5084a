"""api-floor: our cached `GET /api/v1/meetings/{id}` against a bare FastAPI app doing the
same work on the same data (`bench.floor`), side by side in interleaved rounds.

Every caller is the host or a participant of one of `floor_meetings` popular meetings,
whose details and callers' profiles are cached (in Redis) before the first round, so that
every request of every variant is a hit. Ours runs with Redis only (the floor's one
`MGET` is a Redis round trip too), with the in-process tier, and with Redis only and the
rate limiter on (reported against Redis only, per round), and with Redis only on two
workers (`--workers 2`, reported against one, per round; the load generator shares the
machine's two cores with them); the ratio is ours ÷ floor per round, with its median and
min-max.

With `BENCH_BEFORE_SRC=DIR` (a copy of an earlier `src/`, e.g. from `git archive`), a
fourth server, "before", runs that code (Redis only) in the same rounds: before and after
side by side.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench.api import MODES, ApiEnvironment, before_pythonpath, window_sample
from bench.loadgen import LoadGenConfig, LoadGenerator, mint_tokens
from bench.runner import (
    RoundFn,
    Sample,
    paired_ratios,
    percentile,
    run_rounds,
    spread,
    summarize,
)
from bench.servers import ApiServer
from bench.workload import API, Workload

FLOOR_MIX = {"details": 1.0}
BASELINE = "floor"
OURS = ("redis", "redis+l1")
RATE_LIMITED = "redis+ratelimit"  # Redis only, the limiter on: its one round trip a request
TWO_WORKERS = "redis-2workers"  # Redis only, `--workers 2`
# Limits no run reaches: every request is checked and counted, none refused.
LIMITER_ON = {
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_GENERAL_REQUESTS": "100000000",
    "RATE_LIMIT_AUTHENTICATED_REQUESTS": "100000000",
}


def _warm(env: ApiEnvironment, config: LoadGenConfig, base_url: str) -> int:
    """Read every hot meeting once as each of its callers: details and profiles cached."""
    dataset = env.dataset
    workload = Workload(dataset, mix=FLOOR_MIX, seed=config.seed, hot_meetings=config.hot_meetings)
    tokens = mint_tokens(config, dataset)
    requests = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for m in workload.hot_meetings():
            for user in (dataset.host_of[m], *dataset.members_of[m]):
                response = client.get(
                    f"{API}/meetings/{dataset.meeting_ids[m]}",
                    headers={"Authorization": f"Bearer {tokens[user]}"},
                )
                response.raise_for_status()
                requests += 1
    return requests


def _check_floor(env: ApiEnvironment, config: LoadGenConfig, floor: ApiServer) -> None:
    """The floor answers a hot meeting with the same data as ours (it did the work)."""
    dataset = env.dataset
    workload = Workload(dataset, mix=FLOOR_MIX, seed=config.seed, hot_meetings=config.hot_meetings)
    m = workload.hot_meetings()[0]
    token = mint_tokens(config, dataset)[dataset.host_of[m]]
    path = f"{API}/meetings/{dataset.meeting_ids[m]}"
    headers = {"Authorization": f"Bearer {token}"}
    ours = httpx.get(f"{env.servers['redis'].base_url}{path}", headers=headers, timeout=30)
    theirs = httpx.get(f"{floor.base_url}{path}", headers=headers, timeout=30)
    if theirs.status_code != 200 or theirs.json() != ours.json():
        raise RuntimeError(f"the floor app answered {theirs.status_code}: {theirs.text[:300]}")


def run_api_floor(env: ApiEnvironment) -> dict[str, Any]:
    profile = env.profile
    floor = ApiServer(
        "floor",
        {"REDIS_URL": env.redis.url, "JWT_SECRET": env.jwt_secret},
        env.log_dir,
        module="bench.floor",
    )
    env.callback(floor.stop)
    floor.launch()
    floor.wait_ready()
    config = LoadGenConfig(
        profile.dataset,
        env.jwt_secret,
        profile.api_concurrency,
        mix=FLOOR_MIX,
        hot_meetings=profile.floor_meetings,
    )
    warmed = _warm(env, config, env.servers["redis"].base_url)
    _check_floor(env, config, floor)
    servers = {BASELINE: floor, **{name: env.servers[name] for name in OURS}}
    extra = {RATE_LIMITED: {**env.common, **MODES["redis"], **LIMITER_ON}}
    if pythonpath := before_pythonpath():
        extra["before"] = {**env.common, **MODES["redis"], "PYTHONPATH": pythonpath}
    extra[TWO_WORKERS] = {**env.common, **MODES["redis"]}
    for name, server_env in extra.items():
        server = ApiServer(name, server_env, env.log_dir, workers=2 if name == TWO_WORKERS else 1)
        env.callback(server.stop)
        server.launch()
        servers[name] = server
    for server in servers.values():
        server.wait_ready()
    loadgen = LoadGenerator(config)
    env.callback(loadgen.close)
    failures: dict[str, dict[str, int]] = {name: {} for name in servers}
    for server in servers.values():  # buffers, connections, the in-process tier
        loadgen.run(server.base_url, profile.api_round_warmup * 2)

    def variant_round(name: str) -> RoundFn:
        server = servers[name]

        async def run() -> Sample:
            loadgen.run(server.base_url, profile.api_round_warmup)
            # One worker's counters would be half a window's: none rather than wrong ones.
            counted = server.workers == 1
            before = server.counters() if counted else {}
            result = loadgen.run(server.base_url, profile.api_seconds)
            after = server.counters() if counted else {}
            for kind, n in result["failed_by_kind"].items():
                failures[name][kind] = failures[name].get(kind, 0) + n
            return window_sample(result, before, after)

        return run

    samples = asyncio.run(
        run_rounds({name: variant_round(name) for name in servers}, profile.api_rounds)
    )
    floor_latencies = [lat for s in samples[BASELINE] for lat in s.latencies]
    floor_p99 = percentile(floor_latencies, 99)
    p99_ratios = {}
    for name in [n for n in servers if n != BASELINE]:
        ours = [lat for s in samples[name] for lat in s.latencies]
        p99_ratios[name] = percentile(ours, 99) / floor_p99 if floor_p99 > 0 else None
    limiter = paired_ratios(samples[RATE_LIMITED], samples["redis"])
    workers = paired_ratios(samples[TWO_WORKERS], samples["redis"])
    return {
        "scenario": "api-floor",
        "rate_limit_ratio": spread(limiter),
        "two_workers_ratio": spread(workers),
        "baseline": BASELINE,
        "meetings": profile.floor_meetings,
        "warmed_requests": warmed,
        "concurrency": profile.api_concurrency,
        "seconds_per_window": profile.api_seconds,
        "variants": [v.as_dict() for v in summarize(samples, BASELINE)],
        "p99_ratio": p99_ratios,
        "failures": failures,
    }
