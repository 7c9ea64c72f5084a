"""The development JWT secret: generated once under var/, shared by every process."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from gomeet.config import Settings


def _settings(var_dir: Path) -> Settings:
    return Settings(_env_file=None, environment="development", var_dir=var_dir)  # type: ignore[call-arg]


def test_settings_sharing_a_var_dir_share_one_private_secret(tmp_path: Path) -> None:
    first = _settings(tmp_path / "var").effective_jwt_secret
    second = _settings(tmp_path / "var").effective_jwt_secret
    assert first == second
    assert len(first) >= 32
    path = tmp_path / "var" / "jwt_secret"
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    """Like `--workers N` starting together: whoever creates the file, all read the same."""
    workers = 8
    barrier = threading.Barrier(workers)
    secrets: list[str] = []

    def start() -> None:
        settings = _settings(tmp_path / "var")
        barrier.wait()
        secrets.append(settings.effective_jwt_secret)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(secrets) == workers
    assert len(set(secrets)) == 1


def test_a_configured_secret_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, environment="development", var_dir=tmp_path, jwt_secret="s" * 48
    )
    assert settings.effective_jwt_secret == "s" * 48
    assert not (tmp_path / "jwt_secret").exists()
