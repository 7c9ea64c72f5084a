"""Text normalisation shared by the API, the queries and the cache keys (no framework here)."""

from __future__ import annotations

import unicodedata


def nfc(value: str) -> str:
    """One spelling per text, so that search and cache keys agree with the database."""
    return unicodedata.normalize("NFC", value)


def search_term(raw: str | None) -> str:
    """A search term as the database matches it and the cache key encodes it:
    stripped, NFC, lower-cased."""
    return nfc(raw.strip()).lower() if raw else ""
