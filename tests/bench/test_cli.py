"""The harness's own entry point, and `gomeet bench` forwarding to it (CONTRACT §1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import gomeet_command

CHECKOUT = Path(__file__).resolve().parents[2]


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_python_m_bench_lists_the_scenarios(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "bench", "--help"], cwd=CHECKOUT)

    assert result.returncode == 0, result.stderr
    for name in ("micro-hit", "api-read", "stampede", "outage", "--quick"):
        assert name in result.stdout


def test_gomeet_bench_forwards_to_the_harness_from_any_directory(tmp_path: Path) -> None:
    result = run([*gomeet_command(), "bench", "--quick", "--scenario", "nope"], cwd=tmp_path)

    assert result.returncode == 2
    assert "unknown scenario nope" in result.stdout + result.stderr
    assert "not installed" not in result.stderr


def test_gomeet_bench_without_the_harness_says_how_to_get_it(tmp_path: Path) -> None:
    # As with the product wheel alone: no importable `bench` package.
    code = (
        "import sys; sys.modules['bench'] = None; sys.argv = ['gomeet', 'bench', '--quick']; "
        "from gomeet.cli import main; main()"
    )
    result = run([sys.executable, "-c", code], cwd=tmp_path)

    assert result.returncode == 2
    assert "benchmark harness is not installed" in result.stderr
    assert "make bench" in result.stderr
    assert "Traceback" not in result.stderr
