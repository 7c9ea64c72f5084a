from __future__ import annotations

import random
from collections import Counter

import pytest
from bench.zipf import Zipf


def test_samples_stay_within_bounds() -> None:
    zipf = Zipf(50, 1.1, random.Random(1))

    ranks = [zipf.sample() for _ in range(20_000)]

    assert min(ranks) == 0
    assert max(ranks) <= 49


def test_lower_ranks_are_drawn_more_often() -> None:
    zipf = Zipf(1_000, 1.1, random.Random(2))

    counts = Counter(zipf.sample() for _ in range(50_000))

    assert counts[0] > counts[1] > counts[10] > counts[500]


def test_probabilities_sum_to_one_and_follow_the_exponent() -> None:
    zipf = Zipf(100, 1.1)

    assert sum(zipf.probability(k) for k in range(100)) == pytest.approx(1.0)
    assert zipf.probability(0) / zipf.probability(1) == pytest.approx(2**1.1)


def test_a_single_item_is_always_drawn() -> None:
    zipf = Zipf(1)

    assert {zipf.sample() for _ in range(100)} == {0}


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Zipf(0)
