"""ICE server response shapes (CONTRACT §6.12), exactly as the web client reads them."""

from __future__ import annotations

from typing import Literal

from gomeet.schemas import CamelModel


class IceServerOut(CamelModel):
    """One entry of `RTCConfiguration.iceServers`; `urls` is one string, never a list (the
    client's ICE-failure recovery calls a string method on it)."""

    urls: str
    username: str | None = None
    credential: str | None = None
    credential_type: Literal["password"] | None = None


class PeerConnectionConfigOut(CamelModel):
    """Read by the client (it falls back to its own servers without it), not applied."""

    ice_candidate_pool_size: int = 10
    ice_transport_policy: Literal["all"] = "all"
    bundle_policy: Literal["max-bundle"] = "max-bundle"
    rtcp_mux_policy: Literal["require"] = "require"


class TurnConfigOut(CamelModel):
    """Only logged by the client: holds no secret."""

    enabled: bool
    server: str
    port: int
    max_bandwidth: int
    total_bandwidth: int


class IceServersOut(CamelModel):
    ice_servers: list[IceServerOut]
    configuration: PeerConnectionConfigOut
    turn_config: TurnConfigOut

    def to_json_without_nulls(self) -> dict[str, object]:
        """STUN entries carry `urls` only: absent credentials are left out, not null."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
