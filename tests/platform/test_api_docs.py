"""`/docs` and `/redoc` are served entirely by the app: they work on a machine with no
internet (CONTRACT §3). Every asset a page references is fetched from the app itself, and
the pages' Content Security Policy lets a browser fetch nothing from anywhere else."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

# Attributes and script settings that make a browser fetch something.
REFERENCES = re.compile(r"""(?:\bsrc|\bhref|spec-url|\burl)\s*[=:]\s*["']([^"']+)["']""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")
FONT_CDN = re.compile(r"fonts\.(?:googleapis|gstatic)\.com")
# Directives that make a browser fetch (default-src covers the others left unset).
FETCH_DIRECTIVES = (
    "default-src", "script-src", "style-src", "img-src", "font-src",
    "connect-src", "worker-src", "frame-src", "media-src", "object-src",
)  # fmt: skip
LOCAL_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:"}


def local_references(text: str, base: str, pattern: re.Pattern[str]) -> list[str]:
    """Every URL in `text`, resolved against `base`; each must stay on the app."""
    found = []
    for reference in pattern.findall(text):
        if reference.startswith("data:"):
            continue
        assert not re.match(r"^(?:[a-z]+:)?//", reference), f"external reference {reference}"
        found.append(urljoin(base, reference))
    return found


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_page_and_every_asset_it_references_come_from_the_app(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html
    assets = local_references(html, page, REFERENCES)
    assert "/openapi.json" in assets
    assert any(a.endswith(".js") for a in assets)

    fetched = set()
    while assets:
        url = assets.pop()
        if url in fetched:
            continue
        fetched.add(url)
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        if url.endswith(".css"):
            assets += local_references(asset.text, url, CSS_URL)
        if url.endswith((".js", ".css")):
            assert not FONT_CDN.search(asset.text), f"{url} loads fonts from a CDN"
    assert any(a.endswith(".js") for a in fetched)
    if page == "/docs":
        assert any(a.endswith(".css") for a in fetched)

    policy: dict[str, set[str]] = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, *sources = directive.split()
        policy[name] = set(sources)
    for directive in FETCH_DIRECTIVES:
        sources = policy.get(directive, policy["default-src"])
        assert sources <= LOCAL_SOURCES, (directive, sources)
