"""Issues 4 and 8's targets, judged from a run's results: met, not met, or not measured (None)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    target: str
    met: bool | None
    measured: str

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "met": self.met, "measured": self.measured}


def _variant(variants: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((v for v in variants if v["name"] == name), None)


def _cells(results: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = results.get(scenario, {}).get("cells", [])
    return cells


def _redis_hit_vs_raw(results: dict[str, Any]) -> Verdict:
    target = "Redis-only hit >= 0.9x raw redis-py throughput at concurrency 1 and 64"
    ratios = []
    for cell in _cells(results, "micro-hit"):
        ours = _variant(cell["variants"], "ours")
        if ours and ours["ratio"] is not None:
            ratios.append((ours["ratio"], cell["size"], cell["concurrency"]))
    if not ratios:
        return Verdict(target, None, "not measured")
    worst = min(ratios)
    text = ", ".join(f"{r:.2f}x ({s} B, c={c})" for r, s, c in ratios)
    return Verdict(target, worst[0] >= 0.9, f"worst {worst[0]:.2f}x; {text}")


def _l1_vs_redis(results: dict[str, Any]) -> Verdict:
    target = "in-process hit >= 100x a Redis hit (throughput, concurrency 1)"
    ratios = []
    for cell in _cells(results, "micro-hit"):
        l1 = _variant(cell["variants"], "ours+l1")
        ours = _variant(cell["variants"], "ours")
        if cell["concurrency"] == 1 and l1 and ours and ours["ops_per_s"] > 0:
            ratios.append((l1["ops_per_s"] / ours["ops_per_s"], cell["size"]))
    if not ratios:
        return Verdict(target, None, "not measured")
    worst = min(ratios)
    text = ", ".join(f"{r:.0f}x ({s} B)" for r, s in ratios)
    return Verdict(target, worst[0] >= 100, text)


def _ahead_of_peers(results: dict[str, Any]) -> Verdict:
    target = "ours (Redis only) ahead of cashews and aiocache in every micro cell"
    behind = []
    total = 0
    for scenario in ("micro-hit", "micro-miss"):
        for cell in _cells(results, scenario):
            ours = _variant(cell["variants"], "ours")
            if ours is None:
                continue
            for peer in ("cashews", "aiocache"):
                other = _variant(cell["variants"], peer)
                if other is None:
                    continue
                total += 1
                if ours["ops_per_s"] <= other["ops_per_s"]:
                    behind.append(f"{scenario} {cell['size']} B c={cell['concurrency']} vs {peer}")
    if total == 0:
        return Verdict(target, None, "not measured")
    measured = f"ahead in {total - len(behind)}/{total}" + (
        f"; behind: {', '.join(behind)}" if behind else ""
    )
    return Verdict(target, not behind, measured)


def _api_targets(results: dict[str, Any]) -> list[Verdict]:
    names = (
        "api-read: cached >= 3x the req/s of cache-off",
        "api-read: <= 0.05 SQL statements per request at >= 95 % hit ratio",
        "api-read: cached p99 lower than cache-off p99",
    )
    variants = results.get("api-read", {}).get("variants")
    off = _variant(variants, "off") if variants else None
    cached = [v for v in variants or [] if v["name"] in ("redis", "redis+l1")]
    if off is None or not cached:
        return [Verdict(n, None, "not measured") for n in names]
    speed = [f"{v['name']} {v['ratio']:.2f}x" for v in cached if v["ratio"] is not None]
    sql = [
        f"{v['name']} {v['extra'].get('sql_per_request', float('nan')):.3f} SQL/req at "
        f"{v['extra'].get('hit_ratio', float('nan')) * 100:.1f} % hits"
        for v in cached
    ]
    p99 = [f"{v['name']} {v['p99_ms']:.1f} ms" for v in cached]
    return [
        Verdict(names[0], all((v["ratio"] or 0) >= 3 for v in cached), ", ".join(speed)),
        Verdict(
            names[1],
            all(
                v["extra"].get("sql_per_request", 1) <= 0.05
                and v["extra"].get("hit_ratio", 0) >= 0.95
                for v in cached
            ),
            ", ".join(sql),
        ),
        Verdict(
            names[2],
            all(v["p99_ms"] < off["p99_ms"] for v in cached),
            f"off {off['p99_ms']:.1f} ms; " + ", ".join(p99),
        ),
    ]


UNCACHED_TARGET = "api-read: uncached req/s >= 1.5x the earlier code's (BENCH_BEFORE_SRC)"
RATE_LIMIT_TARGET = "api-floor: cached read with rate limiting on >= 0.8x with it off"
WORKERS_TARGET = "api-floor: cached read with --workers 2 >= 1.6x one worker"


def _paired(data: dict[str, Any], field: str, target: str, bound: float) -> Verdict:
    ratio = data.get(field) or {}
    if ratio.get("median") is None:
        return Verdict(target, None, "not measured")
    text = f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})"
    return Verdict(target, ratio["median"] >= bound, text)


def _floor_targets(results: dict[str, Any]) -> list[Verdict]:
    names = (
        "api-floor: cached read >= 0.7x the req/s of a bare FastAPI app (Redis only)",
        "api-floor: cached read p99 <= 2x the bare FastAPI app's (Redis only)",
    )
    data = results.get("api-floor")
    ours = _variant(data["variants"], "redis") if data else None
    if data is None or ours is None or ours["ratio"] is None:
        return [
            Verdict(n, None, "not measured") for n in (*names, RATE_LIMIT_TARGET, WORKERS_TARGET)
        ]
    others = [v for v in data["variants"] if v["name"] not in ("floor", "redis")]
    speed = f"{ours['ratio']:.2f}x ({ours['ratio_min']:.2f}-{ours['ratio_max']:.2f})" + "".join(
        f"; {v['name']} {v['ratio']:.2f}x" for v in others if v["ratio"] is not None
    )
    p99 = data["p99_ratio"].get("redis")
    p99_text = "-" if p99 is None else f"{p99:.2f}x ({ours['p99_ms']:.1f} ms)"
    return [
        Verdict(names[0], ours["ratio"] >= 0.7, speed),
        Verdict(names[1], None if p99 is None else p99 <= 2, p99_text),
        _paired(data, "rate_limit_ratio", RATE_LIMIT_TARGET, 0.8),
        _paired(data, "two_workers_ratio", WORKERS_TARGET, 1.6),
    ]


def _stampede(results: dict[str, Any]) -> Verdict:
    target = "stampede: 1 load per expired hot key (ours)"
    stampede = results.get("stampede")
    if not stampede:
        return Verdict(target, None, "not measured")
    loads = stampede.get("loads_per_round", {})
    ours = {name: loads[name] for name in ("ours", "ours+l1") if name in loads}
    met = bool(ours) and all(max(rounds) == 1 for rounds in ours.values())
    text = "; ".join(f"{name}: {rounds}" for name, rounds in loads.items())
    return Verdict(target, met, f"loads per round: {text}")


def _outage(results: dict[str, Any]) -> Verdict:
    target = "outage: 0 failed requests while Redis is down"
    outage = results.get("outage")
    if not outage or "skipped" in outage:
        return Verdict(
            target, None, outage.get("skipped", "not measured") if outage else "not measured"
        )
    return Verdict(
        target,
        outage["failed"] == 0,
        f"{outage['failed']} failed of {outage['requests']}; p99 during "
        f"{outage['p99_ms']['during']:.1f} ms vs cache-off {outage['baseline_p99_ms']:.1f} ms",
    )


def evaluate(results: dict[str, Any]) -> list[Verdict]:
    return [
        _redis_hit_vs_raw(results),
        _l1_vs_redis(results),
        _ahead_of_peers(results),
        *_api_targets(results),
        _paired(results.get("api-read", {}), "uncached_vs_before", UNCACHED_TARGET, 1.5),
        *_floor_targets(results),
        _stampede(results),
        _outage(results),
    ]
