"""The harness's maths: interleaving order, percentiles, medians, paired ratios."""

from __future__ import annotations

import math

import pytest
from bench.runner import (
    Sample,
    interleaved_order,
    median,
    paired_ratios,
    percentile,
    run_rounds,
    summarize,
)


def test_every_round_runs_each_variant_once_and_the_first_place_rotates() -> None:
    order = interleaved_order(["a", "b", "c"], 4)

    assert order == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_two_variants_alternate_which_goes_first() -> None:
    assert [r[0] for r in interleaved_order(["a", "b"], 4)] == ["a", "b", "a", "b"]


async def test_run_rounds_calls_variants_in_the_interleaved_order() -> None:
    calls: list[str] = []

    def variant(name: str):  # type: ignore[no-untyped-def]
        async def run() -> Sample:
            calls.append(name)
            return Sample(ops=len(calls), seconds=1.0)

        return run

    samples = await run_rounds({"a": variant("a"), "b": variant("b")}, 3)

    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert [s.ops for s in samples["a"]] == [1, 4, 5]
    assert [s.ops for s in samples["b"]] == [2, 3, 6]


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100

    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_percentile_does_not_depend_on_input_order() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == percentile([1.0, 3.0, 5.0], 50) == 3.0


def test_median_of_even_and_odd_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert math.isnan(median([]))


def test_ratios_are_paired_round_by_round() -> None:
    variant = [Sample(200, 1.0), Sample(90, 1.0), Sample(300, 1.0)]
    baseline = [Sample(100, 1.0), Sample(100, 1.0), Sample(100, 1.0)]

    assert paired_ratios(variant, baseline) == pytest.approx([2.0, 0.9, 3.0])


def test_a_round_where_the_baseline_did_nothing_is_left_out_of_the_ratios() -> None:
    assert paired_ratios([Sample(5, 1.0), Sample(10, 1.0)], [Sample(0, 1.0), Sample(5, 1.0)]) == [
        2.0
    ]


def test_summary_uses_medians_and_per_round_ratios() -> None:
    # A noisy second round slows both variants; the paired ratio stays 2x in every round,
    # while the ratio of the medians (400/150) would be 2.67x.
    samples = {
        "base": [Sample(200, 1.0, [0.001]), Sample(50, 1.0, [0.003]), Sample(150, 1.0, [0.002])],
        "fast": [Sample(400, 1.0, [0.0005]), Sample(100, 1.0), Sample(300, 1.0)],
    }

    base, fast = summarize(samples, "base")

    assert base.ops_per_s == 150.0
    assert base.ratio == 1.0
    assert base.p50_ms == pytest.approx(2.0)
    assert fast.ops_per_s == 300.0
    assert fast.ratio == pytest.approx(2.0)
    assert (fast.ratio_min, fast.ratio_max) == pytest.approx((2.0, 2.0))
    assert fast.p99_ms == pytest.approx(0.5)


def test_summary_takes_the_median_of_extra_counters() -> None:
    samples = {
        "a": [
            Sample(1, 1.0, extra={"loads": 1}),
            Sample(1, 1.0, extra={"loads": 9}),
            Sample(1, 1.0, extra={"loads": 2}),
        ]
    }

    (stats,) = summarize(samples, None)

    assert stats.extra == {"loads": 2}
    assert stats.ratio is None
