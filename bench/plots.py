"""PNG plots of a run (matplotlib, no display needed), one per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

VARIANT_COLOURS = {
    "raw": "#7f7f7f", "ours": "#1f77b4", "ours+l1": "#17becf", "cashews": "#ff7f0e",
    "aiocache": "#2ca02c", "naive": "#7f7f7f", "off": "#7f7f7f", "redis": "#1f77b4",
    "redis+l1": "#17becf", "floor": "#7f7f7f", "redis+ratelimit": "#9467bd",
    "before": "#d62728",
}  # fmt: skip
OTHER_COLOUR = "#8c564b"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _micro(plt: Any, data: dict[str, Any], path: Path) -> None:
    concurrencies = sorted({c["concurrency"] for c in data["cells"]})
    sizes = sorted({c["size"] for c in data["cells"]})
    fig, axes = plt.subplots(1, len(concurrencies), figsize=(6 * len(concurrencies), 4.2))
    axes = axes if len(concurrencies) > 1 else [axes]
    for ax, concurrency in zip(axes, concurrencies, strict=True):
        cells = {c["size"]: c for c in data["cells"] if c["concurrency"] == concurrency}
        names = [v["name"] for v in cells[sizes[0]]["variants"]]
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            values = [
                next(v["ops_per_s"] for v in cells[s]["variants"] if v["name"] == name)
                for s in sizes
            ]
            xs = [x + (i - (len(names) - 1) / 2) * width for x in range(len(sizes))]
            ax.bar(xs, values, width, label=name, color=VARIANT_COLOURS.get(name))
        ax.set_xticks(range(len(sizes)), [f"{s:,} B" for s in sizes])
        ax.set_yscale("log")
        ax.set_ylabel("operations/s (log)")
        ax.set_title(f"{data['scenario']}, concurrency {concurrency}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(plt: Any, data: dict[str, Any], path: Path, panels: list[tuple[str, str]]) -> None:
    """One bar per variant in each panel: (value key or extra.<key>, axis label)."""
    names = [v["name"] for v in data["variants"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    for ax, (key, label) in zip(axes, panels, strict=True):
        values = [
            v["extra"].get(key[6:], 0) if key.startswith("extra.") else v[key]
            for v in data["variants"]
        ]
        ax.bar(names, values, color=[VARIANT_COLOURS.get(n, OTHER_COLOUR) for n in names])
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(data["scenario"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _outage(plt: Any, data: dict[str, Any], path: Path) -> None:
    buckets = data["buckets"]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ts = [b["t"] for b in buckets]
    ax.plot(ts, [b["p99_ms"] for b in buckets], label="p99 (Redis only)", color="#1f77b4")
    ax.plot(ts, [b["p50_ms"] for b in buckets], label="p50 (Redis only)", color="#17becf")
    ax.axhline(data["baseline_p99_ms"], color="#7f7f7f", linestyle="--", label="p99 cache off")
    start = data["started_offset"]
    ax.axvspan(start, start + data["outage_seconds"], color="#d62728", alpha=0.12,
               label="Redis stopped")  # fmt: skip
    failed = [b["t"] for b in buckets if b["failed"]]
    if failed:
        ax.plot(failed, [0] * len(failed), "x", color="#d62728", label="failed requests")
    ax.set_xlabel("seconds")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"outage: {data['failed']} failed of {data['requests']} requests")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(results: dict[str, Any], out_dir: Path) -> list[str]:
    """The PNGs written, as paths."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in ("micro-hit", "micro-miss"):
        if scenario in results:
            path = out_dir / f"{scenario}.png"
            _micro(plt, results[scenario], path)
            written.append(str(path))
    if "api-read" in results:
        path = out_dir / "api-read.png"
        panels = [("ops_per_s", "requests/s"), ("p99_ms", "p99 (ms)"),
                  ("extra.sql_per_request", "SQL statements per request")]  # fmt: skip
        _bars(plt, results["api-read"], path, panels)
        written.append(str(path))
    if "api-floor" in results:
        path = out_dir / "api-floor.png"
        panels = [("ops_per_s", "requests/s"), ("ratio", "x floor (median of rounds)"),
                  ("p99_ms", "p99 (ms)")]  # fmt: skip
        _bars(plt, results["api-floor"], path, panels)
        written.append(str(path))
    if "stampede" in results:
        path = out_dir / "stampede.png"
        _bars(plt, results["stampede"], path, [("extra.loads", "loads (median)"),
                                                ("p99_ms", "p99 (ms)")])  # fmt: skip
        written.append(str(path))
    if "outage" in results and "buckets" in results["outage"]:
        path = out_dir / "outage.png"
        _outage(plt, results["outage"], path)
        written.append(str(path))
    return written
