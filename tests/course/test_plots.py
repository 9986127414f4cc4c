"""Does the shared per-sample figure draw what the notebooks' sliders describe?"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course import plots


@pytest.fixture
def ax():
    figure, ax = plt.subplots()
    yield ax
    plt.close(figure)


def test_one_bar_per_sample_labelled_by_its_outcome(ax):
    """Is each bar as tall as its value, with the sample's outcome under it?"""
    flips = np.array([1, 0, 0, 1])
    costs = -np.log(np.where(flips == 1, 0.3, 0.7))
    plots.per_sample_bars(costs, flips, ax=ax, ylabel="cost", ylim=(0, 4.7))
    assert [bar.get_height() for bar in ax.patches] == pytest.approx(costs.tolist())
    assert [label.get_text() for label in ax.get_xticklabels()] == ["1", "0", "0", "1"]
    assert ax.get_ylim() == (0, 4.7)
    assert ax.get_ylabel() == "cost"
    assert ax.get_legend() is None


def test_the_mean_line_sits_at_the_mean(ax):
    """Does the dashed line, when asked for, mark the mean of the bars (the mean NLL)?"""
    plots.per_sample_bars([1.0, 2.0, 6.0], [0, 1, 1], ax=ax, mean_label="mean = mean NLL")
    (line,) = ax.get_lines()
    assert line.get_ydata()[0] == pytest.approx(3.0)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["mean = mean NLL"]


def test_values_and_outcomes_of_different_lengths_are_refused(ax):
    """Does a length mismatch fail with both shapes named, not draw a misleading figure?"""
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        plots.per_sample_bars([1.0, 2.0, 3.0], [0, 1], ax=ax)


def test_the_underflow_threshold_is_where_products_become_zero():
    """Does a number whose log is at LOG_FLOAT64_ROUNDS_TO_ZERO round to 0.0, and one just above
    it round up to the smallest float64?"""
    assert math.exp(plots.LOG_FLOAT64_ROUNDS_TO_ZERO) == 0.0
    above = math.exp(plots.LOG_FLOAT64_ROUNDS_TO_ZERO + 1e-6)
    assert above == plots.FLOAT64_SMALLEST_SUBNORMAL
