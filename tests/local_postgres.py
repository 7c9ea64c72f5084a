"""A private PostgreSQL from the server binaries installed on this machine: Debian's
`postgresql` package (`/usr/lib/postgresql/<version>/bin`) or `initdb`/`pg_ctl` on PATH.

The suite's PostgreSQL where pgserver has no wheel (Python 3.13) and TEST_DATABASE_URL is
not set. It listens on a unix socket in a private directory only, with fsync off, and is
stopped with its owner. PostgreSQL refuses to run as root: run as root, the server runs as
the `postgres` system user (or `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any


def server_bin_dir() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: PATH first, then the newest Debian version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


class LocalPostgres:
    def __init__(self) -> None:
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "no PostgreSQL server binaries: install Debian's postgresql package, "
                "or set TEST_DATABASE_URL"
            )
        self.bin_dir = bin_dir
        self._root: str | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    entry = pwd.getpwnam(name)
                except KeyError:
                    continue
                self._run_as = {"user": entry.pw_uid, "group": entry.pw_gid}
                break

    @property
    def data_dir(self) -> Path:
        assert self._root is not None
        return Path(self._root) / "data"

    @property
    def socket_dir(self) -> Path:
        assert self._root is not None
        return Path(self._root) / "socket"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/postgres?host={self.socket_dir}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            **self._run_as,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> LocalPostgres:
        self._root = tempfile.mkdtemp(prefix="gomeet-pg-")
        os.chmod(self._root, 0o755)  # noqa: S103 - the server user traverses it
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(mode=0o700)
            if self._run_as:
                os.chown(directory, self._run_as["user"], self._run_as["group"])
        os.chmod(self.socket_dir, 0o755)  # noqa: S103 - the client reaches the socket
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-sync")  # fmt: skip
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server as an operator would (fast: sessions are terminated), data kept."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the (initialised) server, on the same socket."""
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -F"
        log = self.data_dir / "server.log"
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log), "-w", "start")

    def stop(self) -> None:
        if self._root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():  # a stopped server: nothing to stop
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
