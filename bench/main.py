"""`python -m bench` (`gomeet bench`): run the chosen scenarios, print the tables, write
JSON, plots and docs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import ROOT, SCENARIOS, progress
from bench.profiles import FULL, QUICK, Profile


def default_docs_dir() -> Path:
    """docs/ of the source checkout this package runs from, else ./docs."""
    if (ROOT / "pyproject.toml").exists() and (ROOT / "docs").is_dir():
        return ROOT / "docs"
    return Path.cwd() / "docs"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return "unknown"


def _redis_version() -> str:
    from gomeet.embedded import redis_server_binary

    with contextlib.suppress(Exception):
        out = subprocess.run(  # noqa: S603 - a fixed binary
            [redis_server_binary(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        return out.split("v=", 1)[1].split()[0]
    return "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "memory": _memory(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "redis": _redis_version(),
    }


def run_bench(
    *,
    quick: bool,
    scenarios: Sequence[str],
    json_path: Path | None,
    docs: bool,
    docs_dir: Path,
    command: str,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from gomeet.config import Settings

    profile = QUICK if quick else FULL
    chosen = [s for s in SCENARIOS if s in set(scenarios or SCENARIOS)]
    started = time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "command": command,
            "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "profile": profile.name,
            "scenarios": chosen,
            "machine": machine(),
            "log_level": Settings().log_level,
        }
    }
    with progress.progress_bar():
        _run_scenarios(profile, chosen, results, log)
    results["meta"]["seconds"] = time.monotonic() - started
    from bench.report import print_tables, write_markdown

    print_tables(results)
    if json_path:
        json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        log(f"wrote {json_path}")
    if docs:
        from bench.plots import write_plots

        plots = write_plots(results, docs_dir / "benchmarks")
        write_markdown(results, docs_dir / "benchmarks.md", plots)
        log(f"wrote {docs_dir / 'benchmarks.md'} and {len(plots)} plots")
    return results


def _run_scenarios(
    profile: Profile, chosen: list[str], results: dict[str, Any], log: Callable[[str], None]
) -> None:
    from bench.servers import BenchRedis

    micro = [s for s in chosen if s in ("micro-hit", "micro-miss", "stampede")]
    if micro:
        with BenchRedis() as redis:
            for scenario in micro:
                log(f"running {scenario} ...")
                t0 = time.monotonic()
                with progress.scenario(scenario):
                    results[scenario] = asyncio.run(_micro_scenario(scenario, profile, redis))
                log(f"  {scenario} done in {time.monotonic() - t0:.0f} s")
    api = [s for s in chosen if s in ("api-read", "api-floor", "outage")]
    if api:
        from bench.api import ApiEnvironment, run_api_read
        from bench.apifloor import run_api_floor
        from bench.outage import run_outage

        log("starting PostgreSQL, Redis and three API servers ...")
        with ApiEnvironment(profile, log=log) as env:
            log(f"  ready in {env.setup_seconds:.0f} s")
            results["meta"]["machine"]["postgresql"] = env.postgres_version
            runs = (
                ("api-read", run_api_read),
                ("api-floor", run_api_floor),
                ("outage", run_outage),
            )
            for scenario, fn in runs:
                if scenario in api:
                    log(f"running {scenario} ...")
                    t0 = time.monotonic()
                    with progress.scenario(scenario):
                        results[scenario] = fn(env)
                    log(f"  {scenario} done in {time.monotonic() - t0:.0f} s")


async def _micro_scenario(scenario: str, profile: Profile, redis: Any) -> dict[str, Any]:
    from bench.micro import run_micro
    from bench.stampede import run_stampede

    with quiet_stdout():
        if scenario == "stampede":
            return await run_stampede(profile, redis.url)
        return await run_micro(scenario.split("-")[1], profile, redis.url, redis.restartable)


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The cache's per-operation log records are formatted as in production, then dropped."""
    from gomeet.config import Settings
    from gomeet.observability.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    saved = sys.stdout
    sys.stdout = _Null()
    try:
        yield
    finally:
        sys.stdout = saved
