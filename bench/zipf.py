"""A bounded Zipf sampler: rank k of n drawn with probability proportional to 1 / (k+1)^s."""

from __future__ import annotations

import bisect
import itertools
import math
import random


class Zipf:
    def __init__(self, n: int, s: float = 1.1, rng: random.Random | None = None) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.s = s
        self._rng = rng or random.Random()  # noqa: S311 - a workload, not a secret
        weights = (math.pow(k, -s) for k in range(1, n + 1))
        self._cdf = list(itertools.accumulate(weights))
        self._total = self._cdf[-1]

    def sample(self) -> int:
        """A rank in [0, n): 0 is the most popular."""
        u = self._rng.random() * self._total
        return min(bisect.bisect_right(self._cdf, u), self.n - 1)

    def probability(self, rank: int) -> float:
        """The probability of `rank` (for reports and tests)."""
        return math.pow(rank + 1, -self.s) / self._total
