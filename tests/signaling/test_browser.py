"""A real browser is the user: headless Chromium (Debian's `chromium`, driven by
playwright-python) opens a test page in two tabs, on two origins listed in
`CORS_ORIGINS`. Each tab calls the REST API cross-origin (the host registers and creates
a meeting, the guest creates a public user and opens the public view), connects the
signaling socket, and sets up an `RTCPeerConnection` with fake media through it; both
reach `iceConnectionState` connected over loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHROMIUM = "/usr/bin/chromium"
PAGE = (Path(__file__).parent / "browser_page.html").read_bytes()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",  # the only network here
    "--disable-features=WebRtcHideLocalIpsWithMdns",  # plain IP host candidates
]
CONNECTED = "window.iceStates.includes('connected') || window.iceStates.includes('completed')"


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def page_server(host: str) -> Iterator[str]:
    """The test page on its own origin (`http://host:port`)."""
    server = ThreadingHTTPServer((host, 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


STATE = "({failure: window.failure, ice: window.iceStates, problems: window.problems,"
STATE += " received: window.received, closeCode: window.closeCode,"
STATE += " peers: window.peerInfo ? window.peerInfo() : null})"


async def settled(page: Page, expression: str) -> None:
    """Wait for `expression`; fail at once, with what the page saw, if it failed."""
    try:
        await page.wait_for_function(
            f"({expression}) || window.failure !== undefined", timeout=30_000
        )
    except PlaywrightTimeout:
        others = [await p.evaluate(STATE) for p in page.context.pages if p is not page]
        raise AssertionError(f"{expression}: {await page.evaluate(STATE)}; {others}") from None
    failure = await page.evaluate("window.failure")
    assert failure is None, failure


async def test_two_browser_tabs_on_two_origins_connect_through_the_signaling(
    live_server: Callable[..., Any], tmp_path: Path
) -> None:
    with page_server("localhost") as host_origin, page_server("127.0.0.1") as guest_origin:
        async with (
            live_server(cors_origins=[host_origin, guest_origin]) as api,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                host = await browser.new_page()
                await host.goto(
                    f"{host_origin}/?{urlencode({'api': api.http_url, 'role': 'host'})}"
                )
                await settled(host, "window.socketOpen === true")
                meeting = await host.evaluate("window.meetingId")
                guest = await browser.new_page()
                query = urlencode({"api": api.http_url, "role": "guest", "meeting": meeting})
                await guest.goto(f"{guest_origin}/?{query}")
                await settled(guest, CONNECTED)
                await settled(host, CONNECTED)
                for tab, relayed in ((host, "answer"), (guest, "offer")):
                    # ICE may connect on a peer-reflexive candidate before the other tab's
                    # trickled candidates have come through the relay: wait for them too.
                    expected = ["participant-joined", relayed, "ice-candidate"]
                    await settled(tab, f"{expected}.every(t => window.received.includes(t))")
                    assert await tab.evaluate("window.problems") == []
                    assert await tab.evaluate("window.iceServers.length") >= 1
                assert await guest.evaluate("window.meetingTitle") == "Browser call"
                assert api.hub.stats.messages_relayed >= 4  # offers, answers, candidates
            finally:
                await browser.close()
