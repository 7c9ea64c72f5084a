"""The api-read workload: every read is authorised, writes act on sensible pairs, 5 % writes."""

from __future__ import annotations

from collections import Counter

import pytest
from bench.dataset import Dataset, DatasetSpec
from bench.workload import MEETING_READS, WRITES, Workload


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(DatasetSpec(users=200, meetings=500, participants_per_meeting=4, seed=7))


def test_the_data_set_is_the_same_for_the_same_spec(dataset: Dataset) -> None:
    again = Dataset(dataset.spec)

    assert again.user_ids == dataset.user_ids
    assert again.meeting_ids == dataset.meeting_ids
    assert again.members_of == dataset.members_of


def test_meetings_have_distinct_participants_who_are_not_the_host(dataset: Dataset) -> None:
    for m, members in enumerate(dataset.members_of):
        assert len(set(members)) == 4
        assert dataset.host_of[m] not in members


def test_seed_rows_match_the_spec(dataset: Dataset) -> None:
    from gomeet.db import utcnow

    now = utcnow()
    assert len(dataset.rows_users("hash", now)) == 200
    assert len(dataset.rows_meetings(now)) == 500
    assert len(dataset.rows_participants(now)) == dataset.spec.participants == 2_000


def test_meeting_reads_come_from_the_host_or_a_participant(dataset: Dataset) -> None:
    workload = Workload(dataset, seed=1)
    by_id = {str(mid): m for m, mid in enumerate(dataset.meeting_ids)}

    for _ in range(5_000):
        request = workload.next_request()
        if request.kind in MEETING_READS:
            meeting = by_id[request.path.split("/")[4]]
            allowed = {dataset.host_of[meeting], *dataset.members_of[meeting]}
            assert request.user in allowed


def test_about_five_percent_of_requests_are_writes(dataset: Dataset) -> None:
    workload = Workload(dataset, seed=2)

    kinds = Counter(workload.next_request().kind for _ in range(20_000))

    writes = sum(n for kind, n in kinds.items() if kind in WRITES)
    assert 0.03 < writes / 20_000 < 0.07
    assert set(kinds) >= {"details", "participants", "me", "list", "upcoming", "past", "joined"}


def test_joins_never_repeat_a_pair_nor_target_the_host_or_a_member(dataset: Dataset) -> None:
    workload = Workload(dataset, seed=3)
    pairs = []

    for _ in range(20_000):
        request = workload.next_request()
        if request.kind == "join":
            assert request.pair is not None
            user, meeting = request.pair
            assert user != dataset.host_of[meeting]
            assert user not in dataset.members_of[meeting]
            pairs.append(request.pair)

    assert pairs
    assert len(pairs) == len(set(pairs))


def test_a_leave_follows_only_a_join_that_succeeded(dataset: Dataset) -> None:
    workload = Workload(dataset, seed=4)
    joined: set[tuple[int, int]] = set()
    leaves = 0

    for i in range(20_000):
        request = workload.next_request()
        if request.kind == "join":
            succeeded = i % 2 == 0  # half the joins fail: those must never be left
            workload.on_response(request, succeeded)
            if succeeded:
                assert request.pair is not None
                joined.add(request.pair)
        elif request.kind == "leave":
            assert request.pair in joined
            joined.discard(request.pair)
            leaves += 1

    assert leaves > 0


def test_user_reads_have_distinct_cache_keys_per_user(dataset: Dataset) -> None:
    workload = Workload(dataset, seed=5)
    me = [r for r in (workload.next_request() for _ in range(3_000)) if r.kind == "me"]

    assert len({r.cache_key for r in me}) == len({r.user for r in me}) > 1
