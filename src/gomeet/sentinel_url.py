"""`REDIS_SENTINEL_URL`: the sentinels of a Redis master, and how to authenticate.

Two spellings, both with any number of sentinels (port 26379 when left out):

- `redis+sentinel://[[user]:password@]host[:port][,host[:port]…][/master[/db]]
  [?sentinel_password=…&sentinel_username=…]`, the form of the `redis-sentinel-url`
  package (and of Celery's and Spring's comma-separated sentinel lists). The user info is
  the **master's** credentials, as in a `redis://` URL; the sentinels' own password (their
  `requirepass`) goes in `sentinel_password`, or in `REDIS_SENTINEL_PASSWORD`.
- `host[:port],host[:port]…`: the sentinels only; the master's name, password and
  database come from `REDIS_SENTINEL_MASTER`, `REDIS_PASSWORD` and `REDIS_DB`.

A name or database in the URL wins over those settings. Parts are percent-decoded, so a
password may hold any character (`%40` for `@`). Nothing here ever puts a password in an
error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, unquote

DEFAULT_PORT: Final = 26379
SCHEME: Final = "redis+sentinel"
EXPECTED: Final = (
    "expected redis+sentinel://[:password@]host[:port][,host[:port]…][/master[/db]] "
    "or host[:port][,host[:port]…]"
)
_QUERY_KEYS: Final = frozenset({"sentinel_password", "sentinel_username"})
_HOST: Final = re.compile(r"^[A-Za-z0-9._-]+$")
_MASTER: Final = re.compile(r"^[A-Za-z0-9._:-]+$")


@dataclass(frozen=True)
class SentinelConfig:
    sentinels: tuple[tuple[str, int], ...]
    master: str | None = None  # None: REDIS_SENTINEL_MASTER
    db: int | None = None  # None: REDIS_DB
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def addresses(self) -> str:
        """`host:port,…` for logs and health reports (no credentials)."""
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)


def parse_sentinel_url(value: str) -> SentinelConfig:
    """The sentinels and credentials of `value`; ValueError saying what is wrong."""
    text = value.strip()
    if not text:
        raise ValueError(f"empty; {EXPECTED}")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return SentinelConfig(_hosts(text))
    if scheme.lower() != SCHEME:
        raise ValueError(f"unknown scheme {scheme!r}; {EXPECTED}")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    master, db = _path(path if slash else "")
    options = _query(query)
    return SentinelConfig(
        _hosts(hosts),
        master=master,
        db=db,
        username=username,
        password=password or None,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
    )


def _hosts(text: str) -> tuple[tuple[str, int], ...]:
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise ValueError(f"no sentinel address; {EXPECTED}")
    if not all(items):
        raise ValueError(f"an empty sentinel address in the list; {EXPECTED}")
    return tuple(_address(item) for item in items)


def _address(item: str) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, bracket, tail = item[1:].partition("]")
        if not bracket or not host or (tail and not tail.startswith(":")):
            raise ValueError(f"sentinel address {item!r} is not [ipv6]:port")
        port_text = tail[1:] if tail else ""
    else:
        host, _, port_text = item.partition(":")
        if not _HOST.match(host):
            raise ValueError(f"sentinel address {item!r} has no valid host name; {EXPECTED}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"sentinel address {item!r}: the port must be a number 1-65535")
    return host, int(port_text)


def _path(path: str) -> tuple[str | None, int | None]:
    """`master[/db]`, either part optional (`/` alone, or nothing)."""
    parts = [unquote(p) for p in path.split("/")] if path else []
    while parts and not parts[-1]:
        parts.pop()
    if len(parts) > 2:
        raise ValueError(f"the path has {len(parts)} parts, not master[/db]; {EXPECTED}")
    master = parts[0] if parts else None
    if master is not None and not _MASTER.match(master):
        raise ValueError(f"master name {master!r} may hold only letters, digits and . _ : -")
    if len(parts) < 2:
        return master, None
    if not parts[1].isdigit():
        raise ValueError(f"database {parts[1]!r} is not a number")
    return master, int(parts[1])


def _query(query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError("the query string is malformed") from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in _QUERY_KEYS:
            known = ", ".join(sorted(_QUERY_KEYS))
            raise ValueError(f"unknown query parameter {key!r} (known: {known})")
        options[key] = value
    return options
