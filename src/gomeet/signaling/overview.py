"""The signaling part of the operator dashboard: meetings with a socket open and open
sockets, in all and per instance."""

from __future__ import annotations

from typing import Any

from gomeet.signaling.hub import Hub
from gomeet.signaling.repair import RegistryUnavailable


async def overview(hub: Hub) -> dict[str, Any]:
    """Every instance's counts as its last heartbeat left them in the registry (this
    instance's live); this instance's own figures alone when Redis does not answer."""
    here = hub.counts()
    live = {meeting_id for meeting_id, room in hub.rooms.items() if room.local}
    meetings: int | None = None
    try:
        counts, elsewhere = await hub.registry_call(hub.registry.overview)
        meetings = len(live | elsewhere)
    except RegistryUnavailable:
        counts = {}
    counts[hub.instance] = here  # fresher than its last heartbeat
    return {
        "meetings": meetings,
        "connections": sum(c.connections for c in counts.values()),
        "instance": hub.instance,
        "instances": [
            {"id": i, "rooms": c.rooms, "connections": c.connections}
            for i, c in sorted(counts.items())
        ],
    }
