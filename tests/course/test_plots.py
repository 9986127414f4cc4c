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


def _texts_and_lines(figure):
    """Display boxes of every title, legend and label drawn in the axes, and every data line."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes, lines = [], []
    for axes in figure.axes:
        for title in (axes.title, axes._left_title, axes._right_title):
            if title.get_text():
                boxes.append((f"title {title.get_text()!r}", title.get_window_extent(renderer)))
        if axes.get_legend() is not None:
            boxes.append(("legend", axes.get_legend().get_window_extent(renderer)))
        boxes += [(f"text {t.get_text()!r}", t.get_window_extent(renderer)) for t in axes.texts]
        lines += [line.get_transform().transform_path(line.get_path()) for line in axes.lines]
    return boxes, lines


def _collisions(figure) -> list[str]:
    boxes, lines = _texts_and_lines(figure)
    found = [
        f"{a} overlaps {b}"
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]
    found += [
        f"{name} lies on a line"
        for name, box in boxes
        if not name.startswith("title")
        and any(path.intersects_bbox(box, filled=False) for path in lines)
    ]
    return found


@pytest.mark.parametrize("optimum", ["max", "min"])
def test_the_optimum_is_named_clear_of_the_title_and_the_curve(ax, optimum):
    """Is the optimum named ("max at 0.2") where it touches neither the title nor the curve,
    even when the peak is at the top of the axes, just under the title?"""
    theta = np.linspace(0.0, 1.0, 501)
    likelihood = theta**2 * (1 - theta) ** 8
    curve = likelihood if optimum == "max" else -np.log(np.clip(likelihood, 1e-300, None))
    plots.curve_with_optimum(theta, curve, optimum=optimum, ax=ax)
    ax.set_title("Likelihood of 2 heads in 10 flips")
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [f"{optimum} at 0.2"]
    assert _collisions(ax.figure) == []


@pytest.fixture
def underflow_axes():
    figure, ax = plt.subplots(figsize=(6.4, 3.6))
    sizes = np.array([10, 100, 1_000, 10_000])
    products = [0.5**10, 0.5**100, 0.0, 0.0]
    plots.plot_over_n(sizes, {"coin": products}, ax=ax, logy=True, float64_limits=True)
    ax.set_title("The likelihood as a plain product collapses to 0.0")
    yield ax
    plt.close(figure)


def test_the_underflow_figure_has_decade_ticks(underflow_axes):
    """Does the underflow figure read in round decades, 10^0 down to 10^-300, then 0.0?"""
    labels = [label.get_text() for label in underflow_axes.get_yticklabels()]
    assert labels == ["$10^{0}$", "$10^{-100}$", "$10^{-200}$", "$10^{-300}$", "0.0"]


def test_exact_zeros_sit_below_both_float64_lines(underflow_axes):
    """Are the "exactly 0.0" crosses below the smallest normal and subnormal float64 lines,
    and is the subnormal line clear of the axis, by several pixels each?"""
    ax = underflow_axes
    to_pixels = ax.transData.transform
    lines = {line.get_label(): line for line in ax.get_lines()}
    crosses = lines["coin: exactly 0.0"]
    normal = next(v for k, v in lines.items() if k.startswith("smallest normal"))
    subnormal = next(v for k, v in lines.items() if k.startswith("smallest float64"))

    def height(line):
        return to_pixels((1.0, line.get_ydata()[0]))[1]

    bottom = ax.transAxes.transform((0, 0))[1]
    assert height(crosses) + 6 < height(subnormal) < height(normal) - 6
    assert height(subnormal) - bottom > 12 and height(crosses) > bottom
    assert crosses.get_xdata().tolist() == [1_000, 10_000]
    assert _collisions(ax.figure) == []


def test_the_slider_lands_on_the_grid_and_names_its_quantity(monkeypatch):
    """Does the slider's panel name its quantity, and show exactly the grid value the slider
    stands for (a value the text promises, not one 1e-17 away)?"""
    from course import widgets

    shown = []
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: shown.append(plt.gcf()))
    box = widgets.curve_explorer(
        lambda theta: theta * (1 - theta),
        np.arange(1, 200) / 200,
        value=0.5,
        quantity="L(θ) = product of the bars",
    )
    slider = box.children[0]
    slider.value = 0.225 + 3e-17  # what the browser's slider sends for 9/40
    title = shown[-1].axes[0].get_title()
    (point,) = [line for line in shown[-1].axes[0].get_lines() if line.get_marker() == "o"]
    assert point.get_xdata()[0] == 9 / 40
    assert title == f"θ = 0.225:  L(θ) = product of the bars = {9 / 40 * 31 / 40:.4g}"
    for figure in shown:
        plt.close(figure)
    import ipywidgets

    ipywidgets.Widget.close_all()  # widgets made outside a kernel would complain at exit
