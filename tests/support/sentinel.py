"""A real Redis Sentinel deployment for the tests: a master, a replica and three sentinels
(`redis-server --sentinel`, the binary the suite already runs), on loopback, free ports and
a private directory, with a password on the data nodes and another on the sentinels.

Sentinels judge a master down after 1 s (`down-after-milliseconds`), so that a killed
master is replaced within a few seconds. Methods block (subprocesses, a sync client): an
async test calls them through `asyncio.to_thread`. Every wait is event-driven (polling a
condition) with a generous bound.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from redis import Redis

from gomeet.embedded import redis_server_binary, terminate

MASTER_NAME = "gomeet-master"
Address = tuple[str, int]


class SentinelUnavailable(RuntimeError):
    """This redis-server cannot run the deployment (the tests say why and skip)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], within: float, what: str) -> float:
    """Poll `check` until true; the seconds it took. RuntimeError naming `what` if it never
    becomes true within `within` seconds (a liveness bound, not a speed expectation)."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - start
        if time.monotonic() - start > within:
            raise RuntimeError(f"the sentinel deployment: {what} within {within:.0f} s")
        time.sleep(0.02)


class SentinelTopology:
    def __init__(self) -> None:
        self.binary = redis_server_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="gomeet-sentinel-"))
        self.password = "master-" + secrets.token_hex(6) + "@:/"  # characters a URL encodes
        self.sentinel_password = "sentinel-" + secrets.token_hex(6)
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._nodes: dict[int, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """`REDIS_SENTINEL_URL` for this deployment: master's password in the user info,
        the sentinels' in the query."""
        return self.url_via(self.sentinel_ports)

    def url_via(self, ports: list[int]) -> str:
        """The same URL with other sentinel ports (e.g. proxies in front of these)."""
        hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
        return (
            f"redis+sentinel://:{quote(self.password, safe='')}@{hosts}/{MASTER_NAME}/0"
            f"?sentinel_password={quote(self.sentinel_password, safe='')}"
        )

    def data_client(self, port: int) -> Redis:
        return Redis(port=port, password=self.password, socket_timeout=2)

    def sentinel_client(self, port: int) -> Redis:
        return Redis(port=port, password=self.sentinel_password, socket_timeout=2)

    def master_port(self) -> int:
        """The master the sentinels agree on (RuntimeError while they disagree)."""
        seen = set()
        for port in self.sentinel_ports:
            with self.sentinel_client(port) as s:
                _, master = s.sentinel_get_master_addr_by_name(MASTER_NAME)
                seen.add(int(master))
        if len(seen) != 1:
            raise RuntimeError(f"the sentinels disagree on the master: {sorted(seen)}")
        return seen.pop()

    def replica_port(self) -> int:
        master = self.master_port()
        return next(p for p in self.data_ports if p != master)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SentinelTopology:
        master, replica = self.data_ports
        self._start_data(master)
        self._start_data(replica, replica_of=master)
        for port in self.sentinel_ports:
            self._start_sentinel(port, master)
        try:
            self.wait_ready()
        except RuntimeError as exc:
            logs = {p: self._log(p) for p in self.sentinel_ports}
            self.stop()
            raise SentinelUnavailable(f"{exc}; sentinel logs: {logs}") from exc
        return self

    def stop(self) -> None:
        for process in self._nodes.values():
            terminate(process, timeout=5)
        self._nodes.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start_data(self, port: int, replica_of: int | None = None) -> None:
        workdir = self.dir / str(port)
        workdir.mkdir(exist_ok=True)
        args = [
            self.binary, "--port", str(port), "--bind", "127.0.0.1",
            "--requirepass", self.password, "--masterauth", self.password,
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
            "--logfile", str(self.dir / f"{port}.log"),
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._nodes[port] = self._spawn(args)
        wait_for(lambda: bool(self.data_client(port).ping()), 10, f"redis-server :{port} up")

    def _start_sentinel(self, port: int, master: int) -> None:
        conf = self.dir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"logfile {self.dir / f'{port}.log'}\n"
            f"requirepass {self.sentinel_password}\n"
            f"sentinel sentinel-pass {self.sentinel_password}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
            f"sentinel auth-pass {MASTER_NAME} {self.password}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n"
        )
        process = self._spawn([self.binary, str(conf), "--sentinel"])
        self._nodes[port] = process
        if process.poll() is not None:
            raise SentinelUnavailable(f"{self.binary} --sentinel exited: {self._log(port)}")

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _log(self, port: int) -> str:
        path = self.dir / f"{port}.log"
        return path.read_text()[-2000:] if path.exists() else ""

    # ------------------------------------------------------------------ health

    def wait_ready(self, within: float = 60.0) -> float:
        """Until a failover can happen: the sentinels know each other and agree on the
        master, which has an online replica that every sentinel sees as a healthy one."""
        return wait_for(self._ready, within, "a master, a replica in sync, three sentinels")

    def _ready(self) -> bool:
        master = self.master_port()
        with self.data_client(master) as m:
            info = m.info("replication")
            if info.get("role") != "master" or info.get("connected_slaves", 0) < 1:
                return False
            if info["slave0"].get("state") != "online":
                return False
        for port in self.sentinel_ports:
            with self.sentinel_client(port) as s:
                state = s.sentinel_master(MASTER_NAME)
                if state["num-other-sentinels"] < 2 or state["flags"] != "master":
                    return False
                replicas = s.sentinel_slaves(MASTER_NAME)
                healthy = [
                    r
                    for r in replicas
                    if r["flags"] == "slave"
                    and r.get("master-link-status") == "ok"
                    and int(r.get("master-port", 0)) == master
                ]
                if not healthy:
                    return False
        return True

    # ------------------------------------------------------------------ faults

    def failover(self) -> int:
        """`SENTINEL FAILOVER`: the master (still alive) is replaced; its port."""
        old = self.master_port()
        with self.sentinel_client(self.sentinel_ports[0]) as s:
            s.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        return old

    def kill_master(self) -> int:
        """SIGKILL the master's process; its port."""
        old = self.master_port()
        process = self._nodes[old]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return old

    def wait_master_moved(self, old: int, within: float = 60.0) -> float:
        """Until every sentinel names a master other than `old`; the seconds it took."""
        return wait_for(lambda: self.master_port() != old, within, f"a master other than :{old}")

    def restore(self, old: int) -> None:
        """Bring the old master back as a replica of the new one (restarting it if it was
        killed, or pointing it at the new master at once instead of waiting for Sentinel
        to demote it), then wait until a failover can happen again."""
        new = self.master_port()
        process = self._nodes[old]
        if process.poll() is not None:
            self._start_data(old, replica_of=new)
        else:
            with self.data_client(old) as node:
                node.replicaof("127.0.0.1", new)
        self.wait_ready()


@contextlib.contextmanager
def sentinel_topology() -> Iterator[SentinelTopology]:
    topology = SentinelTopology().start()
    try:
        yield topology
    finally:
        topology.stop()
