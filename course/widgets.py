"""Small interactive explorers for the notebooks, built on ipywidgets.

Each explorer returns a widget; leave it as the last expression of a cell to show it.
The figure is redrawn whenever the slider moves, and the static notebook (or a grader
running it headless) still gets one figure for the initial value.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np

from course.plots import COLORS

__all__ = ["curve_explorer"]


def curve_explorer(
    function: Callable[[float], float],
    grid,
    *,
    value: float | None = None,
    description: str = "θ",
    xlabel: str = r"$\theta$",
    ylabel: str = "",
    quantity: str | None = None,
    title: str | None = None,
    extra: Callable[[float, object], None] | None = None,
) -> ipywidgets.Widget:
    """A slider that moves a point along the curve ``function(theta)`` drawn over ``grid``.

    Parameters
    ----------
    function : callable
        Maps one parameter value to one number (the likelihood, the NLL, ...).
    grid : array_like
        The parameter values the slider can take, evenly spaced and increasing. The
        slider lands exactly on them: a value the text promises (the MLE, where a
        divergence is 0) is reached when the grid holds it, e.g. ``np.arange(1, 200) / 200``
        holds 9/40.
    value : float, optional
        Where the slider starts (default: the middle of ``grid``).
    quantity : str, optional
        What the curve is, named in the readout above it: ``"L(θ) = product of the bars"``
        reads "θ = 0.500:  L(θ) = product of the bars = 0.000977". Default: ``ylabel``.
    extra : callable, optional
        ``extra(theta, ax)`` draws a second panel for the current value, for example
        the probability the model gives each sample.

    Returns
    -------
    ipywidgets.VBox
        The slider above the figure.
    """
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError("grid must be a 1-D array with at least two values")
    curve = np.array([function(theta) for theta in grid], dtype=float)
    step = float(grid[1] - grid[0])
    start = float(grid[grid.size // 2] if value is None else value)
    slider = ipywidgets.FloatSlider(
        value=start,
        min=float(grid[0]),
        max=float(grid[-1]),
        step=step,
        description=description,
        readout_format=".3f",
        continuous_update=False,
        layout=ipywidgets.Layout(width="60%"),
    )

    named = quantity or ylabel or "value"

    def draw(theta: float) -> None:
        # The browser's slider adds steps in floating point (0.01 * 23 is not 0.23): take
        # the grid value it stands for, so the figure shows exactly the promised values.
        theta = float(grid[np.abs(grid - theta).argmin()])
        panels = 2 if extra is not None else 1
        figure, axes = plt.subplots(1, panels, figsize=(6.4 * panels * 0.8, 3.4), squeeze=False)
        ax = axes[0, 0]
        ax.plot(grid, curve, color=COLORS["blue"])
        current = function(theta)
        ax.plot([theta], [current], "o", color=COLORS["vermillion"], markersize=9)
        # The readout goes in the title: beside the point it would sit on the curve or
        # the axis for some values.
        readout = f"{description} = {theta:.3f}:  {named} = {current:.4g}"
        ax.set_title(f"{title}\n{readout}" if title else readout, color=COLORS["vermillion"])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if extra is not None:
            extra(theta, axes[0, 1])
        figure.tight_layout()
        plt.show()

    output = ipywidgets.interactive_output(draw, {"theta": slider})
    return ipywidgets.VBox([slider, output])
