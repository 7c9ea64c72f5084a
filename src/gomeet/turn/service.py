"""ICE servers for WebRTC: the configured STUN servers for everyone, and for signed-in
callers, when TURN is configured, TURN entries with a TURN REST credential (coturn's
`use-auth-secret` mode). The credential is computed, never stored (no table, no Redis key)
and never logged: username `{expiry}:{random id}`, password base64(HMAC-SHA1(TURN_SECRET,
username)); coturn recomputes it with the shared secret and checks the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from gomeet.config import Settings
from gomeet.turn.schemas import IceServerOut, IceServersOut, PeerConnectionConfigOut, TurnConfigOut


def turn_rest_credential(secret: str, username: str) -> str:
    """The password coturn expects for `username` under the shared `secret`."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class IceServerService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def turn_configured(self) -> bool:
        s = self.settings
        return bool(s.turn_enabled and s.turn_server and s.turn_secret)

    def ice_servers(self, *, signed_in: bool) -> IceServersOut:
        s = self.settings
        servers = [IceServerOut(urls=url) for url in s.webrtc_stun_servers]
        serve_turn = signed_in and self.turn_configured
        if serve_turn:
            servers += self._turn_entries()
        return IceServersOut(
            ice_servers=servers,
            configuration=PeerConnectionConfigOut(),
            turn_config=TurnConfigOut(
                enabled=serve_turn,
                server=(s.turn_server or "") if self.turn_configured else "",
                port=s.turn_port if self.turn_configured else 0,
                max_bandwidth=s.turn_max_bandwidth,
                total_bandwidth=s.turn_total_bandwidth,
            ),
        )

    def _turn_entries(self) -> list[IceServerOut]:
        s = self.settings
        assert s.turn_server and s.turn_secret
        expiry = int(time.time()) + s.turn_credential_ttl
        # The id part is random: it names no user, and nothing needs to remember it.
        username = f"{expiry}:{secrets.token_hex(8)}"
        credential = turn_rest_credential(s.turn_secret, username)
        return [
            IceServerOut(
                urls=url, username=username, credential=credential, credential_type="password"
            )
            for url in (
                f"turn:{s.turn_server}:{s.turn_port}",
                f"turns:{s.turn_server}:{s.turn_tls_port}",
            )
        ]
