"""What an operator relies on, against a real `gomeet serve`: the client address behind a
proxy (FORWARDED_ALLOW_IPS), the liveness probe during a database outage, and the graceful
shutdown timeout."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from serve_helpers import SHUTDOWN_TIMEOUT_S, Server

pytestmark = pytest.mark.e2e

PROXY = "127.0.0.2"  # another loopback address: the trusted proxy's


def public_meeting(client: httpx.Client, forwarded_for: str) -> int:
    """An anonymous request (general per-IP bucket) as if relayed for `forwarded_for`."""
    response = client.get(
        f"/api/v1/meetings/{uuid.uuid4()}/public", headers={"X-Forwarded-For": forwarded_for}
    )
    return response.status_code


def test_forwarded_for_counts_only_from_the_trusted_proxies(
    start_server: Callable[..., Server],
) -> None:
    server = start_server(
        1, "--forwarded-allow-ips", PROXY, env={"RATE_LIMIT_GENERAL_REQUESTS": "2"}
    )
    via_proxy = httpx.Client(
        base_url=server.base_url, transport=httpx.HTTPTransport(local_address=PROXY), timeout=10
    )
    direct = httpx.Client(base_url=server.base_url, timeout=10)
    with via_proxy, direct:
        # Through the proxy: each forwarded client has a bucket of its own.
        assert [public_meeting(via_proxy, "203.0.113.7") for _ in range(3)] == [404, 404, 429]
        assert public_meeting(via_proxy, "203.0.113.8") == 404
        assert public_meeting(via_proxy, "198.51.100.9, 203.0.113.9") == 404  # the proxy's view
        # Straight from an untrusted peer: a spoofed header changes nothing.
        assert public_meeting(direct, "192.0.2.1") == 404
        assert public_meeting(direct, "192.0.2.2") == 404
        assert public_meeting(direct, "192.0.2.3") == 429

    clients = [
        r["client"]
        for r in server.records()
        if r.get("event") == "request" and str(r["path"]).startswith("/api/v1/meetings/")
    ]
    assert clients[:4] == ["203.0.113.7"] * 3 + ["203.0.113.8"]
    assert clients[4] == "203.0.113.9"  # the last address the trusted proxy saw
    assert clients[5:] == ["127.0.0.1"] * 3
    assert not any(str(c).startswith("192.0.2.") for c in clients)


class BlackHole:
    """A PostgreSQL URL whose server accepts TCP connections and never answers."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.held: list[socket.socket] = []
        self.url = f"postgresql+asyncpg://gomeet@127.0.0.1:{listener.getsockname()[1]}/gomeet"

    def wait_for_a_connection(self) -> None:
        """Returns once the server has connected: a request is waiting on the database."""
        connection, _ = self.listener.accept()
        self.held.append(connection)

    def hold_background_connections(self, quiet_s: float = 0.5) -> None:
        """Accepts the connections the server's background tasks make (the outbox drain's),
        until none came for `quiet_s`: the next connection is then a request's."""
        self.listener.settimeout(quiet_s)
        try:
            while True:
                self.wait_for_a_connection()
        except TimeoutError:
            pass
        finally:
            self.listener.settimeout(SHUTDOWN_TIMEOUT_S)


@contextlib.contextmanager
def black_holed_postgresql() -> Iterator[BlackHole]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(SHUTDOWN_TIMEOUT_S)
        hole = BlackHole(listener)
        try:
            yield hole
        finally:
            for connection in hole.held:
                connection.close()


def test_liveness_answers_while_the_database_hangs(start_server: Callable[..., Server]) -> None:
    with black_holed_postgresql() as database:
        server = start_server(env={"DATABASE_URL": database.url})
        live = httpx.get(f"{server.base_url}/api/health/live", timeout=10)
        assert live.status_code == 200
        assert live.json()["data"] == {"status": "ok"}
        ready = httpx.get(f"{server.base_url}/api/health", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["data"]["status"] == "down"


def test_graceful_timeout_cancels_requests_still_running(
    start_server: Callable[..., Server],
) -> None:
    with black_holed_postgresql() as database:
        server = start_server(1, "--graceful-timeout", "1", env={"DATABASE_URL": database.url})
        outcome: list[object] = []

        def hanging_request() -> None:  # waits on the database (a 60 s connect timeout)
            try:
                outcome.append(httpx.get(f"{server.base_url}/api/v1/meetings/{uuid.uuid4()}/public",
                                         timeout=SHUTDOWN_TIMEOUT_S * 2).status_code)  # fmt: skip
            except httpx.HTTPError as exc:
                outcome.append(exc)

        database.hold_background_connections()
        request = threading.Thread(target=hanging_request)
        request.start()
        database.wait_for_a_connection()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=SHUTDOWN_TIMEOUT_S)  # not the database's 60 s
        request.join(timeout=SHUTDOWN_TIMEOUT_S)

    log = server.log_path.read_text()
    assert "timeout graceful shutdown exceeded" in log, log
    assert len(outcome) == 1
    assert outcome[0] != 200
