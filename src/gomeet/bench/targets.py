"""Issue 4's targets, judged from a run's results: met, not met, or not measured (None)."""

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
    cached = [v for v in variants or [] if v["name"] != "off"]
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
        _stampede(results),
        _outage(results),
    ]
