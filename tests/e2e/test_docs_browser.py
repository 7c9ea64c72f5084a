"""`/docs` and `/redoc` in a real browser (Debian's headless Chromium) that can resolve no
host but this machine: both render every operation from the app's own assets."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable

import pytest
from serve_helpers import Server

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Every host name fails to resolve: whatever the page needed from outside would fail.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=15000",
)  # fmt: skip


def rendered_dom(url: str) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (apt-get install chromium); .ci/run installs it"
    with tempfile.TemporaryDirectory(prefix="gomeet-chromium-") as profile:
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        ("/docs", 'data-path="/api/v1/meetings/{meeting_id}"'),
        ("/redoc", ">/api/v1/meetings/{meeting_id}/participants</span>"),
    ],
)
def test_the_docs_render_with_no_network_but_the_app(
    start_server: Callable[..., Server], page: str, rendered: str
) -> None:
    server = start_server()
    dom = rendered_dom(f"{server.base_url}{page}")
    assert rendered in dom, dom[-2000:]
    assert "GoMeet API" in dom
