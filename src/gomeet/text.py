"""Text normalisation shared by the API, the queries and the cache keys (no framework here)."""

from __future__ import annotations

import unicodedata


def nfc(value: str) -> str:
    """One spelling per text, so that search and cache keys agree with the database."""
    return unicodedata.normalize("NFC", value)


# `str.lower` applies Unicode's full, context-sensitive mappings where PostgreSQL's `lower`
# maps each character on its own (the simple mapping): they differ on `İ` (U+0130, full:
# `i` + U+0307, simple: `i`) and on a final `Σ` (full: U+03C2, simple: U+03C3), nowhere else.
_FULL_ONLY = ("\u0130", "\u03a3")


def _lower(value: str) -> str:
    """Lower case by the simple (one character to one) mapping, as PostgreSQL's `lower`."""
    if not any(c in value for c in _FULL_ONLY):
        return value.lower()
    return "".join("i" if c == "\u0130" else c.lower() for c in value)


def fold(value: str) -> str:
    """Case-folded the way the database compares names (`lower`), then NFC again.

    Lower-casing an NFC text can leave it decomposed (`Ϊ́` → `ϊ` + U+0301, whose NFC is
    `ΐ`), so the result is re-composed; repeated until stable, which makes `fold`
    idempotent by construction (in practice one more round at most). The mapping is the
    simple one (`_lower`): SQLite's `lower` is this function, PostgreSQL's maps alike.
    """
    folded = nfc(_lower(nfc(value)))
    while (again := nfc(_lower(folded))) != folded:
        folded = again
    return folded


def search_term(raw: str | None) -> str:
    """A search as the query matches it and the cache key encodes it: stripped and folded.

    Idempotent: `search_term(search_term(x)) == search_term(x)`; the query and the key are
    built from this one string.
    """
    return fold(raw.strip()) if raw else ""


def mask(value: str, visible: int = 4) -> str:
    """`abcd…` style masking for identifiers that must stay recognisable but not reusable."""
    return value[:visible] + "…" if len(value) > visible else "…"
