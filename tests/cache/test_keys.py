"""Key building and pattern deletion.

Guarantees: user-supplied key parts (`search`, `sessionID`) never put a glob character
(`*?[]\\`), a `:` or white space into a key; spellings the database treats alike share a
key, different values never do; `delete_by_pattern` with literal parts escaped by
`escape_glob` deletes exactly the matching keys, in batches, however many there are.
"""

from __future__ import annotations

import re
import uuid

import pytest
from cache_helpers import Loader, MakeCache
from redis.asyncio import Redis

from gomeet.cache import Family, keys

NASTY = [
    "a*b",
    "what?",
    "[x]",
    "back\\slash",
    "co:lon",
    "two words",
    "tab\there",
    "Zoë 東京",
    "%2A",
]
FORBIDDEN = re.compile(r"[*?\[\]\\:\s]")


@pytest.mark.parametrize("text", NASTY)
def test_user_parts_are_encoded(text: str) -> None:
    host = uuid.uuid4()
    session_part = keys.public_user(text).key.removeprefix("public_user:")
    search_part = keys.meeting_list(host, 1, 10, text).key.rsplit(":search:", 1)[1]

    assert not FORBIDDEN.search(session_part)
    assert not FORBIDDEN.search(search_part)


def test_spellings_the_database_treats_alike_share_a_key() -> None:
    host = uuid.uuid4()
    same = {
        keys.meeting_list(host, 1, 10, s).key
        for s in ("Standup", "standup", "  STANDUP ", "standup\n")
    }
    assert len(same) == 1
    nfc, nfd = "Zo\u00eb", "Zoe\u0308"
    assert keys.meeting_list(host, 1, 10, nfc) == keys.meeting_list(host, 1, 10, nfd)
    assert keys.meeting_list(host, 1, 10, None) == keys.meeting_list(host, 1, 10, "")


def test_different_values_never_share_a_key() -> None:
    sessions = ["a:b", "a%3Ab", "a b", "a+b", "a%20b", "A:B"]
    assert len({keys.public_user(s).key for s in sessions}) == len(sessions)
    assert keys.user_profile(str(uuid.UUID(int=1)).upper()) == keys.user_profile(uuid.UUID(int=1))


def test_every_family_has_its_contract_prefix() -> None:
    owner = uuid.uuid4()
    built = [
        keys.user_profile(owner),
        keys.meeting_details(owner),
        keys.participant_list(owner),
        keys.feature_flag("f"),
        keys.public_user("s"),
        keys.meeting_list(owner, 1, 10, None),
        keys.meeting_joined(owner, 1, 10),
        keys.meeting_upcoming(owner, 5),
        keys.meeting_past(owner, 1, 10),
    ]
    assert {k.family for k in built} == set(Family)
    for key in built:
        assert key.key.startswith(keys.PREFIXES[key.family])
        assert keys.family_of(key.key) is key.family


async def test_glob_characters_round_trip_through_the_cache(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    for text in NASTY:
        key = keys.public_user(text)
        assert await cache.get_or_load(key, Loader({"session": text})) == {"session": text}
        assert await cache.get_or_load(key, Loader(None)) == {"session": text}
    assert await clean_redis.dbsize() == len(NASTY)


async def test_delete_by_pattern_escapes_literal_parts(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    for name in ["tmp:a*b:1", "tmp:a*b:2", "tmp:aXb:1", "tmp:a?b:1", "tmp:[ab]:1", "tmp:a:1"]:
        await cache.set(name, {"name": name}, ttl=60)

    deleted = await cache.delete_by_pattern("tmp:" + keys.escape_glob("a*b") + ":*")
    assert deleted == 2
    assert await cache.delete_by_pattern("tmp:" + keys.escape_glob("[ab]") + ":*") == 1
    left = sorted(k.decode() for k in await clean_redis.keys("tmp:*"))
    assert left == ["tmp:a:1", "tmp:a?b:1", "tmp:aXb:1"]


async def test_delete_by_pattern_handles_many_keys(
    make_cache: MakeCache, clean_redis: Redis
) -> None:
    cache = await make_cache()
    pipe = clean_redis.pipeline()
    for i in range(2500):
        pipe.set(f"meeting:details:{uuid.UUID(int=i)}", b"{}")
    pipe.set("user:profile:keep", b"{}")
    await pipe.execute()

    assert await cache.delete_by_pattern("meeting:details:*") == 2500
    assert await clean_redis.dbsize() == 1


async def test_flush_a_family(make_cache: MakeCache, clean_redis: Redis) -> None:
    cache = await make_cache()
    host = uuid.uuid4()
    await cache.get_or_load(keys.meeting_list(host, 1, 10, None), Loader({"m": []}))
    await cache.get_or_load(keys.meeting_past(host, 1, 10), Loader({"m": []}))

    assert await cache.flush(Family.MEETING_LIST) == 2  # the page and its owner index
    assert await clean_redis.exists(keys.meeting_past(host, 1, 10).key) == 1
