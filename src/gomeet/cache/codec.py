"""How values look in Redis.

A cached value is the UTF-8 JSON (orjson) of what the endpoint sends, so `redis-cli GET`
shows it as is. JSON never starts with `~`, so every other kind of entry starts with one
of these documented markers:

- `~zlib:` + zlib(JSON): a value larger than the compression threshold.
- `~lease:` + token: a fill in flight (no value yet). Set with `SET NX PX` on a miss;
  the filler stores its value only while the key still holds its own marker.
- `~refresh:` + token + `:` + stored value: an early refresh in flight. Readers serve the
  embedded value; the refresher replaces the whole entry if it still holds its marker.

An invalidation deletes the key, marker or not, which is what voids a fill in flight.
"""

from __future__ import annotations

import secrets
import zlib
from typing import Any, Final

import orjson

JSON = Any

MARK: Final = 0x7E  # "~": the first byte of every non-JSON entry
ZLIB: Final = b"~zlib:"
LEASE: Final = b"~lease:"
REFRESH: Final = b"~refresh:"
TOKEN_BYTES: Final = 8
_REFRESH_HEAD: Final = len(REFRESH) + 2 * TOKEN_BYTES + 1
NULL: Final = b"null"

loads = orjson.loads


class CorruptValue(ValueError):
    """An entry that is neither JSON nor one of the documented markers."""


def pack(data: bytes, compress_min_bytes: int) -> bytes:
    """The entry for a value's JSON: as is, or zlib-compressed behind `~zlib:` when large."""
    if len(data) >= compress_min_bytes:
        return ZLIB + zlib.compress(data, 1)
    return data


def encode(value: JSON, compress_min_bytes: int) -> bytes:
    return pack(orjson.dumps(value), compress_min_bytes)


def lease_marker() -> bytes:
    return LEASE + secrets.token_hex(TOKEN_BYTES).encode()


def refresh_prefix() -> bytes:
    return REFRESH + secrets.token_hex(TOKEN_BYTES).encode() + b":"


def is_lease(raw: bytes) -> bool:
    return raw.startswith(LEASE)


def decode(raw: bytes) -> JSON:
    """The value of a stored entry; a refresh marker yields the value it carries.

    Raises CorruptValue for anything else (a lease marker included: it has no value).
    """
    if raw[:1] != b"~":
        try:
            return loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CorruptValue(str(exc)) from None
    if raw.startswith(REFRESH):
        return decode(raw[_REFRESH_HEAD:])
    if raw.startswith(ZLIB):
        try:
            return loads(zlib.decompress(raw[len(ZLIB) :]))
        except (zlib.error, orjson.JSONDecodeError) as exc:
            raise CorruptValue(str(exc)) from None
    raise CorruptValue(f"unknown entry marker {raw[:12]!r}")


def describe(raw: bytes) -> str:
    """The kind of an entry, for operators: value, compressed, lease or refresh."""
    if raw.startswith(LEASE):
        return "lease"
    if raw.startswith(REFRESH):
        return "refresh"
    if raw.startswith(ZLIB):
        return "compressed"
    return "value"
