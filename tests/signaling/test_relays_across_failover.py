"""CONTRACT §6.10 behind Redis Sentinel: two processes keep relaying to each other across
a failover. The signaling bus's subscription moves to the new master with the pool, as
the cache's does; left on the old master it would hear nothing published on the new one
until Sentinel demotes the old master (some 10 s later)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from signaling_helpers import Peer, drain_all, eventually, new_guest, new_meeting, new_user

from support.sentinel import SentinelTopology

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Well under the ~10 s before Sentinel demotes the old master (and closes its clients),
# after which a subscription left there would hear the new master through replication.
MOVED_WITHIN_S = 5.0


async def on_master(server: Any, port: int) -> bool:
    """The server's Redis pool has moved to the master on `port`."""
    address = server.app.state.redis.connection_pool.master_address
    return address is not None and int(address[1]) == port


async def _true(value: bool) -> bool:
    return value


async def test_processes_still_see_each_other_after_a_failover(
    live_server: Callable[..., Any], sentinel: SentinelTopology
) -> None:
    settings = {"redis_sentinel_url": sentinel.url}
    async with live_server(**settings) as first, live_server(**settings) as second:
        async with first.http() as http:
            _, _, host_token = await new_user(http)
            meeting_id = await new_meeting(http, host_token)
            _, ann_session = await new_guest(http, "Ann")
            _, bob_session = await new_guest(http, "Bob")
        ann = await Peer.open(first.ws_url, meeting_id, session_id=ann_session, label="ann")
        bob = await Peer.open(second.ws_url, meeting_id, session_id=bob_session, label="bob")
        old = sentinel.master_port()
        try:
            await ann.joined("Bob")  # across processes, before the failover

            await asyncio.to_thread(sentinel.failover)
            new = sentinel.replica_port()
            for server in (first, second):
                assert await eventually(lambda s=server: on_master(s, new), within=30)
            for server in (first, second):  # subscribed again (on the new master, once moved)
                assert await eventually(lambda s=server: _true(s.hub.bus.live))

            # A relay goes over the bus only (a join would also reach Bob by the repair
            # loop's reconciliation with the registry): published on the new master.
            bob_id = await ann.joined("Bob")
            offer = {"type": "offer", "sdp": "v=0\r\n", "n": "after the failover"}
            await ann.relay("offer", bob_id, offer)
            message = await bob.wait_for(
                lambda m: m["type"] == "offer" and m["data"].get("n") == offer["n"],
                within=MOVED_WITHIN_S,
            )
            assert message["from"] != "forged-by-client"
        finally:
            await drain_all(ann, bob)
            await asyncio.to_thread(sentinel.restore, old)
