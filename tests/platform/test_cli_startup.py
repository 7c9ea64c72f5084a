"""`gomeet --help` loads the command line only: no app, no database or Redis driver."""

from __future__ import annotations

import subprocess
import sys

HEAVY_MODULES = ("fastapi", "sqlalchemy", "redis", "pydantic", "gomeet.app", "gomeet.cache")


def test_help_lists_every_command_without_importing_the_app() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from gomeet.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        f"loaded = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    for command in ("serve", "migrate", "users", "cache", "bench"):
        assert f" {command} " in result.stdout
    assert "LOADED []" in result.stdout, result.stdout


def test_a_lazy_group_runs_its_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gomeet.cli", "cache", "flush", "--family", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Unknown cache family 'nope'" in result.stderr
