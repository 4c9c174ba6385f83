"""Latency as a log-bucket histogram (the DDSketch mapping), mergeable by adding counts.

Why this sketch: a window is the union of its 10-second and 1-minute buckets, so the summary
must merge exactly by addition, inside Redis, with `HINCRBY` alone. DDSketch's logarithmic
mapping does that: a value x > 0 falls in bin ⌈log_γ x⌉ with γ = (1 + α) / (1 − α), and the
bin's representative 2γ^i / (γ + 1) is within a relative error α of every value in the bin,
so any quantile of any merged window is within α of the true value of that rank. Merging is
adding counts per bin (t-digest and KLL merge only approximately, and not with HINCRBY);
HDR histograms have the same property but a far larger fixed layout.

α = 1 %, half the 2 % the issue allows. Durations are clamped to [1 ms, 2³¹ ms): below 1 ms
falls in a zero bin (representative 0), so at most `MAX_BIN` + 2 ≈ 1,080 bins can ever exist,
and a bucket stores only the bins it saw (a typical latency spread of one to two orders of
magnitude fills 100–230 of them).

Rank convention: the q-quantile of n values is the value at 0-based rank ⌊q·(n − 1)⌋ of the
sorted values (numpy's `method="lower"`); the estimate is within α of exactly that value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
MAX_VALUE_MS = 2**31 - 1
MAX_BIN = math.ceil(math.log(MAX_VALUE_MS) / _LOG_GAMMA)
ZERO_BIN = -1  # durations under 1 ms


def bin_of(duration_ms: float) -> int:
    """The bin of one duration; durations past `MAX_VALUE_MS` share the last bin."""
    if duration_ms < 1:
        return ZERO_BIN
    return min(MAX_BIN, math.ceil(math.log(min(duration_ms, MAX_VALUE_MS)) / _LOG_GAMMA))


def bin_value(index: int) -> float:
    """The representative of a bin: within `RELATIVE_ACCURACY` of every value in it."""
    if index == ZERO_BIN:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


def merge(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            merged[index] = merged.get(index, 0) + count
    return merged


def _ranks(total: int, qs: Iterable[float]) -> list[int]:
    """The 0-based rank of each q-quantile among `total` values (the rank convention above)."""
    ranks = []
    for q in qs:
        if not 0 <= q <= 1:
            raise ValueError(f"a quantile lies in [0, 1], got {q}")
        ranks.append(math.floor(q * (total - 1)))
    return ranks


def quantiles(histogram: Mapping[int, int], qs: Iterable[float]) -> list[float | None]:
    """The q-quantiles of a histogram (None for every q when it is empty)."""
    wanted = list(qs)
    total = sum(histogram.values())
    if total == 0:
        return [None] * len(wanted)
    bins = sorted(histogram.items())
    results: list[float | None] = []
    for rank in _ranks(total, wanted):
        seen = 0
        for index, count in bins:
            seen += count
            if seen > rank:
                results.append(bin_value(index))
                break
    return results


# a window sum keeps its bins as counters in one string (BITFIELD u32, big-endian), the
# counter of bin i at index i - ZERO_BIN (see realtime/windows/sums.lua)
_COUNTER = np.dtype(">u4")


def counter_quantiles(counters: bytes, qs: Iterable[float]) -> list[float | None]:
    """`quantiles` of a histogram stored as counters; the same ranks and bins."""
    counts = np.frombuffer(counters, dtype=_COUNTER, count=len(counters) // 4)
    cumulative = np.cumsum(counts, dtype=np.int64)
    total = int(cumulative[-1]) if len(cumulative) else 0
    wanted = list(qs)
    if total == 0:
        return [None] * len(wanted)
    # for each rank, the first counter whose running total passes it, as `quantiles` walks
    found = np.searchsorted(cumulative, _ranks(total, wanted), side="right")
    return [bin_value(int(index) + ZERO_BIN) for index in found]


def counter_histogram(counters: bytes) -> dict[int, int]:
    """The histogram (bin -> count, bins with a count only) of counters as stored."""
    counts = np.frombuffer(counters, dtype=_COUNTER, count=len(counters) // 4)
    held = np.flatnonzero(counts)
    return {int(i) + ZERO_BIN: int(counts[i]) for i in held}
