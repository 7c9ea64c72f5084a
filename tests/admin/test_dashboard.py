"""`/api/v1/admin/dashboard`: the page, its assets and data over HTTP, and the page itself in
headless Chromium (Debian's `chromium`): it signs in with the API's login, shows charts
with real numbers, applies and reverts a family's TTL advice.

`GOMEET_DASHBOARD_SCREENSHOT=PATH` also writes the screenshot there (the README's)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from admin_helpers import build_world, data_of, error_of, make_admin

from gomeet.app import create_app
from gomeet.cache import keys
from gomeet.config import Settings
from helpers import API, DEFAULT_PASSWORD, bearer, free_port, outbox_applied, register_user

DASHBOARD = f"{API}/admin/dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


async def test_the_page_loads_for_anyone_with_local_assets_only(client: httpx.AsyncClient) -> None:
    page = await client.get(DASHBOARD)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "http://" not in html and "https://" not in html  # no CDN, nothing external
    for asset in re.findall(r'(?:src|href)="(dashboard/assets/[^"]+)"', html):
        served = await client.get(f"{API}/admin/{asset}")
        assert served.status_code == 200, asset
        assert "https://" not in served.text
    assert (await client.get(f"{DASHBOARD}/assets/../../config.py")).status_code == 404
    assert (await client.get(f"{DASHBOARD}/assets/nothing.js")).status_code == 404


async def test_the_data_is_for_administrators_only(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get(f"{DASHBOARD}/data"), 401)["code"] == "UNAUTHORIZED"
    _, access, _ = await register_user(client)
    assert error_of(await client.get(f"{DASHBOARD}/data", headers=bearer(access)), 403)
    _, admin = await make_admin(client)
    world = await build_world(client)
    for _ in range(2):
        await client.get(f"{API}/meetings/{world.meeting_id}", headers=world.host_auth)
    # The writes' outbox records are deleted once applied, which may trail the responses.
    await outbox_applied(client)
    data = data_of(await client.get(f"{DASHBOARD}/data", headers=admin))
    assert data["stats"]["source"] == "redis"
    assert data["backlog"]["outbox"] == 0 and data["backlog"]["pendingInvalidations"] == 0
    [me] = [i for i in data["instances"] if i["id"] == data["instance"]]
    assert me["reporting"] and me["circuit"] == "closed" and me["pid"] == os.getpid()
    assert data["series"]["slotSeconds"] == 5
    assert any("meeting_details" in p for p in data["series"]["points"])
    signaling = data["signaling"]
    assert signaling["meetings"] == 0 and signaling["connections"] == 0
    assert [i["id"] for i in signaling["instances"]] == [signaling["instance"]]


@contextlib.asynccontextmanager
async def live_server(settings: Settings) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The app served over real HTTP on a free loopback port, in this event loop."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            client.app = app  # type: ignore[attr-defined]
            yield base, client
    finally:
        server.should_exit = True
        await task


async def churn_tracked(client: httpx.AsyncClient, n: int) -> None:
    """`n` tracked meeting entries filled, read and invalidated: enough for an advice."""
    cache = client.app.state.cache  # type: ignore[attr-defined]
    made = 0
    while made < n:
        key = keys.meeting_details(uuid.uuid4())
        if not cache.engine.recorder.tracks(key.key):
            continue
        made += 1

        async def load() -> dict[str, Any]:
            return {"name": "x"}

        await cache.get_or_load(key, load)
        await cache.get_or_load(key, load)
        await cache.invalidate(key)


async def test_the_dashboard_in_headless_chromium(
    make_settings: Callable[..., Settings], app_client: Any, tmp_path: Path
) -> None:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once, before anything runs
        pytest.fail(f"{CHROMIUM} is needed (Debian: apt-get install chromium; .ci/run does it)")
    from playwright.async_api import async_playwright, expect

    async with live_server(make_settings()) as (base, client):
        admin, admin_auth = await make_admin(client)
        world = await build_world(client)
        for _ in range(20):
            await client.get(f"{API}/meetings/{world.meeting_id}", headers=world.host_auth)
            await client.get(f"{API}/meetings/upcoming", headers=world.host_auth)
        await churn_tracked(client, 25)
        await asyncio.sleep(3.5)  # the invalidated entries' grace, then they are resolved

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1100},
            )  # fmt: skip
            try:
                page = await browser.new_page()
                await page.goto(f"{base}{DASHBOARD}")
                await expect(page.locator("#login")).to_be_visible()
                await expect(page.locator("#board")).to_be_hidden()
                assert await page.locator("#families tbody tr").count() == 0  # nothing shown

                await page.fill("#email", admin["email"])
                await page.fill("#password", DEFAULT_PASSWORD)
                await page.click("#sign-in")
                details = page.locator('#families tbody tr[data-family="meeting_details"]')
                await expect(details).to_contain_text("%", timeout=15_000)
                await expect(page.locator("#hit-chart polyline").first).to_be_attached()
                await expect(page.locator("#load-chart polyline").first).to_be_attached()
                hit_ratio = page.locator('.card[data-label="hit ratio"] .value')
                await expect(hit_ratio).to_have_text(re.compile(r"^\d+\.\d %$"))
                assert float((await hit_ratio.inner_text()).split()[0]) > 0
                await expect(page.locator("#instances tbody")).to_contain_text("closed")
                await expect(page.locator("#hot-keys tbody tr").first).to_be_attached()
                await expect(page.locator("#backlog tbody")).to_contain_text("outbox")
                summary = page.locator("#signaling-summary")
                await expect(summary).to_have_text("0 meetings live, 0 sockets open")
                token = world.host_auth["Authorization"].split()[1]
                socket = f"ws{base[4:]}{API}/ws/meetings/{world.meeting_id}?token={token}"
                async with websockets.connect(socket):
                    await expect(summary).to_have_text("1 meetings live, 1 sockets open")
                    await expect(page.locator("#signaling tbody")).to_contain_text("(this)")
                points = await page.locator("#hit-chart polyline").first.get_attribute("points")
                assert points and len(points.split()) >= 1
                await page.wait_for_timeout(2500)  # one more poll: the charts have moved on
                await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
                target = os.environ.get("GOMEET_DASHBOARD_SCREENSHOT")
                if target:
                    shutil.copy(tmp_path / "dashboard.png", target)

                advice = page.locator('#advice tbody tr[data-family="meeting_details"]')
                await expect(advice).to_contain_text("invalidated before expiry")
                await advice.locator('button[data-action="apply"]').click()
                await expect(page.locator("#advice-message")).to_contain_text("900 s → 3600 s")
                cache = client.app.state.cache  # type: ignore[attr-defined]
                assert cache.engine.fill.ttl_ms["meeting_details"] == 3_600_000
                await advice.locator('button[data-action="revert"]').click()
                await expect(page.locator("#advice-message")).to_contain_text("→ 900 s")
                assert cache.engine.fill.ttl_ms["meeting_details"] == 900_000
                stats = data_of(await client.get(f"{API}/admin/cache/stats", headers=admin_auth))
                actions = [d["action"] for d in stats["ttl"]["log"]]
                assert actions[:2] == ["revert", "apply"]

                await page.click("#sign-out")
                await expect(page.locator("#login")).to_be_visible()
            finally:
                await browser.close()
    assert os.path.getsize(tmp_path / "dashboard.png") > 10_000  # noqa: ASYNC240
