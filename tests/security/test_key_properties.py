"""Property tests (hypothesis) of the cache keys built from user input and of the search
normaliser, the last one against the real databases.

- no glob character (`*?[]\\`), `:` or white space from user input ever reaches a key;
- two inputs the database treats alike give one key, two it treats differently give two:
  a session id (compared exactly by both databases) keys injectively; a search keys as its
  `search_term`, and each database matches a name exactly when the term is in the folded
  name, so equal terms are one query and different terms are told apart by some name;
- `search_term` (and `fold`) are idempotent.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import Text

from gomeet.cache import keys
from gomeet.db import create_engine, folded
from gomeet.text import fold, search_term

FORBIDDEN = re.compile(r"[*?\[\]\\:]")
HOST = uuid.UUID(int=7)
# Text as users send it: any code point but lone surrogates (the API refuses them).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
# Text that stresses the folding: case pairs, combining marks, special cases, glob and
# LIKE characters, white space of every kind.
TRICKY = st.lists(
    st.sampled_from(
        [
            *"aAzZ\u00df\u1e9e\u0130\u0131iI\u03a3\u03c3\u03c2\u0390\u03ca\u03aa",
            *"\u0301\u0308\u0345\ufb01\u01c5\u01c4\u01c6%_\\*?[]: \t",
            *"\u00a0\u2002\u3000\u00c5\u00e5\u212b\u00e9",
            *("A\u030a", "e\u0301"),
        ]
    ),
    max_size=12,
).map("".join)
Database = tuple[asyncio.Runner, async_sessionmaker[AsyncSession]]
EXAMPLES = settings(max_examples=400, deadline=None)


def user_parts(text: str) -> list[str]:
    """The parts of the keys a user's text goes into: session id, search, flag name."""
    return [
        keys.public_user(text).key.removeprefix("public_user:"),
        keys.meeting_list(HOST, 1, 10, text).key.rsplit(":search:", 1)[1],
        keys.feature_flag(text).key.removeprefix("feature_flag:"),
    ]


@EXAMPLES
@given(st.one_of(TEXT, TRICKY))
@example("a*b?[c]\\d:e f\tg\u3000h\u2028i")
def test_no_glob_colon_or_white_space_from_user_input(text: str) -> None:
    for part in user_parts(text):
        assert not FORBIDDEN.search(part), part
        assert not any(c.isspace() for c in part), part
        assert part.isascii() and part.isprintable(), part


@EXAMPLES
@given(st.one_of(TEXT, TRICKY), st.one_of(TEXT, TRICKY))
@example("a:b", "a%3Ab")
@example("Abc", "abc")
@example("Zo\u00eb", "Zoe\u0308")
def test_session_ids_key_injectively(a: str, b: str) -> None:
    """Both databases compare session ids exactly: one key per id, never one for two."""
    assert (keys.public_user(a) == keys.public_user(b)) == (a == b)
    assert (keys.feature_flag(a) == keys.feature_flag(b)) == (a == b)


@EXAMPLES
@given(st.one_of(TEXT, TRICKY), st.one_of(TEXT, TRICKY))
@example("Ärzte", "A\u0308RZTE ")
@example("a%", "a%25")
def test_searches_share_a_key_exactly_when_their_terms_are_equal(a: str, b: str) -> None:
    same_key = keys.meeting_list(HOST, 1, 10, a) == keys.meeting_list(HOST, 1, 10, b)
    assert same_key == (search_term(a) == search_term(b))


@EXAMPLES
@given(st.one_of(TEXT, TRICKY))
@example("\u0399\u0308\u0301")  # Ϊ́: lower() leaves it decomposed
@example(" \u0301 ")
def test_search_term_and_fold_are_idempotent(text: str) -> None:
    term = search_term(text)
    assert search_term(term) == term
    assert fold(fold(text)) == fold(text)
    # A term keys as itself: the key of the query's term is the key of the raw search.
    assert keys.meeting_list(HOST, 1, 10, term) == keys.meeting_list(HOST, 1, 10, text)


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[Database]:
    """One event loop and engine for every example (hypothesis runs examples synchronously)."""
    runner = asyncio.Runner()
    engine = create_engine(database_url, pool_size=1)
    yield runner, async_sessionmaker(engine)
    runner.run(engine.dispose())
    runner.close()


async def _matches(sessions: async_sessionmaker[AsyncSession], name: str, term: str) -> bool:
    async with sessions() as session:
        # The meeting search's own expression, on a literal name instead of a column.
        condition = folded(session, literal(name)).contains(term, autoescape=True)
        return bool((await session.execute(select(condition))).scalar_one())


@settings(max_examples=150, deadline=None)
@given(name=st.one_of(TEXT, TRICKY), raw=st.one_of(TEXT, TRICKY))
@example(name="ÄRZTE-Runde", raw="ärzte")
@example(name="100% sure", raw="0%")
@example(name="a_b", raw="_")
@example(name="STRASSE", raw="straße")
@example(name="Ϊ́", raw="ΐ")
@example(name="İstanbul", raw="İSTANBUL")  # PostgreSQL lowers İ to i, str.lower to i + U+0307
@example(name="\u039f\u0394\u039f\u03a3", raw="\u03bf\u03b4\u03bf\u03c3")  # final sigma
def test_the_database_matches_a_name_exactly_when_the_term_is_in_its_folded_form(
    database: Database, name: str, raw: str
) -> None:
    runner, sessions = database
    name = name.replace("\x00", "")  # neither database stores NUL (the API refuses it)
    term = search_term(raw.replace("\x00", ""))
    expected = term in fold(name)
    assert runner.run(_matches(sessions, name, term)) == expected, (name, term)
    # The term is its own key and query: searching for a name's folded form finds it.
    assert runner.run(_matches(sessions, name, search_term(name)))


async def test_every_code_point_folds_in_python_as_in_postgresql(postgresql_url: str) -> None:
    """SQLite's `lower` is `text.fold`; PostgreSQL's search expression must agree with it
    on each of the 1,112,063 code points (U+0001 to U+10FFFF, surrogates aside)."""
    chars = [chr(i) for i in range(1, 0x110000) if not 0xD800 <= i <= 0xDFFF]
    engine = create_engine(postgresql_url)
    query = text(
        "SELECT normalize(lower(c), NFC) FROM unnest(:cs) WITH ORDINALITY AS t(c, n) ORDER BY n"
    ).bindparams(bindparam("cs", type_=ARRAY(Text)))
    differ = []
    try:
        async with engine.connect() as connection:
            for start in range(0, len(chars), 100_000):
                chunk = chars[start : start + 100_000]
                lowered = (await connection.execute(query, {"cs": chunk})).scalars().all()
                differ += [(c, d) for c, d in zip(chunk, lowered, strict=True) if fold(c) != d]
    finally:
        await engine.dispose()
    assert len(chars) == 1_112_063
    assert differ == []
