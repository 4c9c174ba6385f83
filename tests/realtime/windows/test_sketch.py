"""The latency sketch: every quantile of any merge of histograms is within the relative accuracy
of the exact value of that rank, and the number of bins is bounded."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from realtime.windows import sketch

durations = st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=300)


def histogram_of(values: list[int]) -> dict[int, int]:
    histogram: dict[int, int] = {}
    for value in values:
        index = sketch.bin_of(value)
        histogram[index] = histogram.get(index, 0) + 1
    return histogram


def assert_close(estimate: float | None, exact: float) -> None:
    assert estimate is not None
    if exact < 1:
        assert estimate == 0
    else:
        assert abs(estimate - exact) <= sketch.RELATIVE_ACCURACY * exact * (1 + 1e-12)


@given(st.lists(durations, min_size=1, max_size=5), st.sampled_from([0, 0.01, 0.5, 0.95, 0.99, 1]))
def test_quantiles_of_merged_histograms_are_within_the_relative_accuracy(
    parts: list[list[int]], q: float
) -> None:
    merged = sketch.merge(histogram_of(part) for part in parts)
    values = np.array([v for part in parts for v in part])
    (estimate,) = sketch.quantiles(merged, [q])
    assert_close(estimate, float(np.quantile(values, q, method="lower")))


def test_the_number_of_bins_is_bounded_whatever_the_durations() -> None:
    assert sketch.bin_of(0) == sketch.ZERO_BIN
    assert sketch.bin_of(10**15) == sketch.MAX_BIN
    assert sketch.MAX_BIN < 1100
    assert sketch.RELATIVE_ACCURACY <= 0.02


def test_every_duration_lies_in_a_bin_whose_representative_is_close() -> None:
    for value in [1, 2, 3, 10, 99, 100, 101, 1_000, 65_535, 2**31 - 2]:
        representative = sketch.bin_value(sketch.bin_of(value))
        assert math.isclose(representative, value, rel_tol=sketch.RELATIVE_ACCURACY)


def test_an_empty_histogram_has_no_quantiles() -> None:
    assert sketch.quantiles({}, [0.5, 0.99]) == [None, None]


def counters_of(histogram: dict[int, int]) -> bytes:
    """The histogram as a window sum stores it (sums.lua): big-endian u32 at bin + 1."""
    counts = np.zeros(sketch.MAX_BIN + 2, dtype=">u4")
    for index, count in histogram.items():
        counts[index - sketch.ZERO_BIN] = count
    return counts[: max(histogram) - sketch.ZERO_BIN + 1].tobytes() if histogram else b""


@given(durations, st.lists(st.sampled_from([0, 0.01, 0.5, 0.95, 0.99, 1]), min_size=1))
def test_counters_give_the_quantiles_the_histogram_gives(values: list[int], qs: list[float]):
    histogram = histogram_of(values)
    assert sketch.counter_quantiles(counters_of(histogram), qs) == sketch.quantiles(histogram, qs)


def test_empty_counters_have_no_quantiles() -> None:
    assert sketch.counter_quantiles(b"", [0.5]) == [None]
    assert sketch.counter_quantiles(bytes(8), [0.5, 0.99]) == [None, None]
