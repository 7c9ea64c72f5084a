"""A run's results as tables: on stdout (rich), as JSON, and as docs/benchmarks.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.targets import evaluate

NOTES_MARKER = (
    "<!-- notes: everything below this line is kept when the harness rewrites the file -->"
)


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


def fmt_ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.1f} ms"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ratio(v: dict[str, Any]) -> str:
    if v.get("ratio") is None:
        return "-"
    return f"{v['ratio']:.2f}x ({v['ratio_min']:.2f}-{v['ratio_max']:.2f})"


def _size(n: int) -> str:
    return f"{n // 1000} KB" if n >= 1000 else f"{n} B"


def _micro(results: dict[str, Any], scenario: str) -> Table | None:
    data = results.get(scenario)
    if not data:
        return None
    rows = [
        [_size(c["size"]), str(c["concurrency"]), v["name"], fmt_rate(v["ops_per_s"]),
         fmt_ratio(v), fmt_ms(v["p50_ms"]), fmt_ms(v["p99_ms"])]
        for c in data["cells"]
        for v in c["variants"]
    ]  # fmt: skip
    headers = ["value", "conc.", "variant", "ops/s", "x raw (min-max)", "p50", "p99"]
    return Table(scenario, headers, rows)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _api(results: dict[str, Any]) -> Table | None:
    data = results.get("api-read")
    if not data:
        return None
    rows = []
    for v in data["variants"]:
        extra = v["extra"]
        rows.append(
            [v["name"], fmt_rate(v["ops_per_s"]), fmt_ratio(v), fmt_ms(v["p50_ms"]),
             fmt_ms(v["p99_ms"]), f"{extra.get('sql_per_request', math.nan):.3f}",
             _pct(extra.get("hit_ratio")), f"{extra.get('failed', 0):.0f}",
             _pct(extra.get("first_touch_share"))]
        )  # fmt: skip
    headers = ["cache", "req/s", "x off (min-max)", "p50", "p99", "SQL/req", "hit ratio",
               "failed", "first touches"]  # fmt: skip
    ds = data["dataset"]
    title = (
        f"api-read ({ds['users']:,} users, {ds['meetings']:,} meetings, "
        f"{ds['participants']:,} participants; {data['concurrency']} connections)"
    )
    return Table(title, headers, rows)


def _api_floor(results: dict[str, Any]) -> Table | None:
    data = results.get("api-floor")
    if not data:
        return None
    rows = []
    for v in data["variants"]:
        p99_ratio = data["p99_ratio"].get(v["name"])
        rows.append(
            [v["name"], fmt_rate(v["ops_per_s"]), fmt_ratio(v), fmt_ms(v["p50_ms"]),
             fmt_ms(v["p99_ms"]), "-" if p99_ratio is None else f"{p99_ratio:.2f}x",
             f"{v['extra'].get('sql_per_request', math.nan):.3f}",
             f"{v['extra'].get('failed', 0):.0f}"]
        )  # fmt: skip
    headers = ["server", "req/s", "x floor (min-max)", "p50", "p99", "p99 x floor", "SQL/req",
               "failed"]  # fmt: skip
    title = (
        f"api-floor (GET /meetings/{{id}}, {data['meetings']} cached meetings; "
        f"{data['concurrency']} connections; floor: bare FastAPI, JWT + one MGET + check)"
    )
    return Table(title, headers, rows)


def _api_by_kind(results: dict[str, Any]) -> Table | None:
    by_kind = results.get("api-read", {}).get("by_kind")
    if not by_kind:
        return None
    modes = list(by_kind)
    kinds = sorted({k for per_mode in by_kind.values() for k in per_mode})
    rows = []
    for kind in kinds:
        row = [kind]
        for mode in modes:
            entry = by_kind[mode].get(kind)
            row.append(f"{fmt_ms(entry['p50_ms'])} / {fmt_ms(entry['p99_ms'])}" if entry else "-")
        rows.append(row)
    headers = ["request", *(f"{mode} p50 / p99" for mode in modes)]
    return Table("api-read latency by request kind", headers, rows)


def _stampede(results: dict[str, Any]) -> Table | None:
    data = results.get("stampede")
    if not data:
        return None
    rows = [
        [v["name"], ", ".join(map(str, data["loads_per_round"][v["name"]])),
         fmt_ms(v["p50_ms"]), fmt_ms(v["p99_ms"]),
         str(sum(data["failed_per_round"][v["name"]]))]
        for v in data["variants"]
    ]  # fmt: skip
    title = (
        f"stampede ({data['requests']} concurrent requests over {data['instances']} instances, "
        f"load {data['load_ms']:.0f} ms)"
    )
    return Table(title, ["variant", "loads per round", "p50", "p99", "failed"], rows)


def _outage(results: dict[str, Any]) -> Table | None:
    data = results.get("outage")
    if not data:
        return None
    if "skipped" in data:
        return Table("outage", ["skipped"], [[data["skipped"]]])
    p99, failed, n = data["p99_ms"], data["failed_by_phase"], data["requests_by_phase"]
    rows = [
        [phase, str(n[phase]), str(failed[phase]), fmt_ms(p99[phase])]
        for phase in ("before", "during", "after")
    ]
    rows.append(["cache-off baseline", "", str(data["baseline_failed"]),
                 fmt_ms(data["baseline_p99_ms"])])  # fmt: skip
    title = (
        f"outage (Redis stopped {data['outage_seconds']:.1f} s; "
        f"{data['hits_after_restart']:.0f} cache hits after the restart)"
    )
    return Table(title, ["phase", "requests", "failed", "p99"], rows)


def _targets(results: dict[str, Any]) -> Table:
    marks = {True: "met", False: "NOT met", None: "not measured"}
    rows = [[v.target, v.measured, marks[v.met]] for v in evaluate(results)]
    return Table("targets (issues 4 and 8)", ["target", "measured", "verdict"], rows)


def tables(results: dict[str, Any]) -> list[Table]:
    built = [
        _micro(results, "micro-hit"),
        _micro(results, "micro-miss"),
        _api(results),
        _api_by_kind(results),
        _api_floor(results),
        _stampede(results),
        _outage(results),
        _targets(results),
    ]
    return [t for t in built if t is not None]


def print_tables(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    for table in tables(results):
        rich_table = RichTable(title=table.title, title_justify="left")
        for header in table.headers:
            rich_table.add_column(header)
        for row in table.rows:
            rich_table.add_row(*row)
        console.print(rich_table)


def markdown_table(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(table.headers), line(["---"] * len(table.headers))]
    out.extend(line(row) for row in table.rows)
    return "\n".join(out)


def render_markdown(results: dict[str, Any], plots: list[str], notes: str) -> str:
    meta = results["meta"]
    machine = meta["machine"]
    parts = [
        "# Benchmarks",
        "",
        f"Written by `{meta['command']}` on {meta['started']} ({meta['profile']} profile, "
        f"{meta['seconds']:.0f} s). Rerun that command to refresh everything above the notes.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']} — {machine['nproc']} cores (`nproc`), shared with other work: "
        f"load average {machine['loadavg']} at the start",
        f"- memory: {machine['memory']}; Python {machine['python']}; {machine['platform']}",
        f"- Redis {machine['redis']}; PostgreSQL {machine.get('postgresql', '-')}",
        f"- LOG_LEVEL={meta['log_level']} (the cache's per-operation records are formatted, "
        "then dropped)",
        "",
        "## Results",
        "",
        "Each variant ran in interleaved rounds (order rotated each round); throughput is the "
        "median of the per-round rates, the ratio the median of the per-round ratios to the "
        "baseline measured in the same round (min-max over the rounds in brackets), "
        "latencies are pooled over the rounds.",
        "",
    ]
    for table in tables(results):
        parts += [f"### {table.title}", "", markdown_table(table), ""]
    if plots:
        parts += ["### Plots", ""]
        parts += [f"![{Path(p).stem}](benchmarks/{Path(p).name})" for p in plots]
        parts.append("")
    parts += [NOTES_MARKER, notes.strip("\n"), ""]
    return "\n".join(parts)


def kept_notes(path: Path) -> str:
    """The hand-written part of an existing docs file (below the marker), or a stub."""
    if path.exists():
        text = path.read_text()
        if NOTES_MARKER in text:
            return text.split(NOTES_MARKER, 1)[1]
    return "\n## Notes\n\n(hand-written analysis goes here)\n"


def write_markdown(results: dict[str, Any], path: Path, plots: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(results, plots, kept_notes(path)))
