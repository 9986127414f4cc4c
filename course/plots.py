"""The course's plotting style and recurring figures.

Every figure uses :func:`use_style` (the Okabe-Ito palette, which stays distinguishable
under the common forms of colour blindness, and line styles that differ as well as
colours, so figures also read in greyscale print). Functions draw on an ``ax`` when one
is given and return it, so notebooks can compose panels with ``plt.subplots``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "COLORS",
    "FLOAT64_SMALLEST_NORMAL",
    "FLOAT64_SMALLEST_SUBNORMAL",
    "LOG_FLOAT64_ROUNDS_TO_ZERO",
    "compare_distributions",
    "curve_with_optimum",
    "histogram_with_density",
    "per_sample_bars",
    "plot_over_n",
    "use_style",
]

#: The Okabe-Ito colour-blind-safe palette, in the order figures use it.
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
_CYCLE = [COLORS[name] for name in ("blue", "orange", "green", "vermillion", "sky", "purple")]
_LINESTYLES = ["-", "--", ":", "-."]

#: The smallest positive normal float64, about 2.2e-308.
FLOAT64_SMALLEST_NORMAL = float(np.finfo(np.float64).tiny)
#: The smallest positive float64 of all (a subnormal), 2**-1074, about 4.9e-324.
FLOAT64_SMALLEST_SUBNORMAL = float(np.nextafter(0.0, 1.0))
#: log(2**-1075), about -745.13: a positive result whose log is at or below this (at most
#: half the smallest subnormal) rounds to 0.0; one a little above rounds up to 2**-1074.
LOG_FLOAT64_ROUNDS_TO_ZERO = -1075 * math.log(2.0)


def use_style() -> None:
    """Apply the course's figure style to Matplotlib (idempotent)."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": mpl.cycler(color=_CYCLE),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 100,
            "font.size": 11,
            "axes.titlesize": 12,
            "legend.frameon": False,
            "lines.linewidth": 2.0,
        }
    )


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def curve_with_optimum(
    grid,
    values,
    *,
    optimum: str = "max",
    ax=None,
    label: str | None = None,
    xlabel: str = r"$\theta$",
    ylabel: str = "",
    color: str | None = None,
    linestyle: str = "-",
):
    """Plot ``values`` against ``grid`` and mark where the curve peaks (or bottoms out).

    Parameters
    ----------
    grid, values : array_like
        The x values (usually a grid of parameters) and the curve on them.
    optimum : {"max", "min", None}
        Which extreme to mark with a dot and a dotted vertical line, named in the legend
        ("max at 0.2"); ``None`` marks none.
    """
    ax = _axes(ax)
    grid = np.asarray(grid, dtype=float)
    values = np.asarray(values, dtype=float)
    (line,) = ax.plot(grid, values, label=label, color=color, linestyle=linestyle)
    if optimum is not None:
        if optimum not in ("max", "min"):
            raise ValueError(f"optimum must be 'max', 'min' or None, got {optimum!r}")
        finite = np.where(np.isfinite(values), values, np.nan)
        index = np.nanargmax(finite) if optimum == "max" else np.nanargmin(finite)
        best = grid[index]
        # The optimum is named in the legend, which Matplotlib places clear of the curves
        # and of other text; a label beside the point would sit on the curve, its tail or
        # the title for some curves.
        ax.axvline(
            best,
            color=line.get_color(),
            linestyle=":",
            linewidth=1.2,
            label=f"{optimum} at {best:.3g}",
        )
        ax.plot(best, values[index], "o", color=line.get_color())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if label or optimum is not None:
        ax.legend()
    return ax


def per_sample_bars(
    values,
    outcomes,
    *,
    ax=None,
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    mean_label: str | None = None,
    xlabel: str = "flip (its outcome below the bar)",
):
    """One bar per sample, its outcome written under it: what each sample contributes.

    Parameters
    ----------
    values : array_like
        The height of each bar, e.g. ``p(x_i)``, ``log p(x_i)`` or ``-log p(x_i)``.
    outcomes : array_like
        The samples themselves, shown as the tick labels (same length as ``values``).
    ylim : (float, float), optional
        Fixed limits, so the bars can be compared as a slider moves.
    mean_label : str, optional
        When given, a dashed line at the mean of ``values``, with this legend label.
    """
    ax = _axes(ax)
    values = np.asarray(values, dtype=float)
    outcomes = np.asarray(outcomes)
    if values.shape != outcomes.shape or values.ndim != 1:
        raise ValueError(
            f"values and outcomes must be 1-D and of the same length, "
            f"got shapes {values.shape} and {outcomes.shape}"
        )
    positions = np.arange(values.size)
    ax.bar(positions, values, color=COLORS["orange"])
    ax.set_xticks(positions, [str(v) for v in outcomes.tolist()])
    if mean_label is not None:
        ax.axhline(
            values.mean(), color=COLORS["black"], linestyle="--", linewidth=1.2, label=mean_label
        )
        ax.legend(loc="upper right")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


#: Where the underflow figure draws an exact 0.0 (in decades, log10): a grey strip below the
#: smallest float64 (log10 of it is -323.3), one row per series.
_ZERO_STRIP = (-366.0, -335.0)
_ZERO_ROWS = (-344.0, -357.0)


def plot_over_n(
    ns,
    series: Mapping[str, Sequence[float]],
    *,
    ax=None,
    logx: bool = True,
    logy: bool = False,
    ylabel: str = "",
    float64_limits: bool = False,
):
    """Plot one or more quantities against the number of samples ``n``.

    Parameters
    ----------
    ns : array_like
        The sample sizes.
    series : mapping of label to values
        Each curve to draw.
    logy : bool
        A logarithmic y axis.
    float64_limits : bool
        With ``logy``: the figure of an underflow. The y axis runs in decades (ticks
        :math:`10^0, 10^{-100}, \\dots`) down past the smallest float64, with the smallest
        positive normal and subnormal float64 as lines, and values that are exactly 0.0
        drawn as crosses on a grey strip below both lines, where 0.0 sits among the
        floats. (A Matplotlib log axis cannot reach below the smallest float64, so this
        axis plots log10 of the values and labels its ticks as powers of ten.)
    """
    ax = _axes(ax)
    ns = np.asarray(ns, dtype=float)
    if logy and float64_limits:
        _plot_underflow(ax, ns, series)
    else:
        for index, (label, values) in enumerate(series.items()):
            values = np.asarray(values, dtype=float)
            ax.plot(ns, values, _LINESTYLES[index % len(_LINESTYLES)], marker=".", label=label)
        if logy:
            ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("number of samples $n$")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    return ax


def _decade_ticks(top: float, bottom: float) -> np.ndarray:
    """Round decades from just above ``top`` down to ``bottom`` (log10 values), at most 5."""
    span = max(top - bottom, 1.0)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if span / s <= 4)
    return np.arange(np.ceil(top / step) * step, bottom, -step)


def _plot_underflow(ax, ns, series) -> None:
    """The body of :func:`plot_over_n` with ``logy`` and ``float64_limits``."""
    normal, smallest = math.log10(FLOAT64_SMALLEST_NORMAL), math.log10(FLOAT64_SMALLEST_SUBNORMAL)
    top = smallest
    for index, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        positive = values > 0
        with np.errstate(divide="ignore"):
            decades = np.log10(values[positive])
        if decades.size:
            top = max(top, float(decades.max()))
        style = _LINESTYLES[index % len(_LINESTYLES)]
        (line,) = ax.plot(ns[positive], decades, style, marker=".", label=label)
        if np.any(~positive):
            row = _ZERO_ROWS[index % len(_ZERO_ROWS)]
            ax.plot(
                ns[~positive],
                np.full(int((~positive).sum()), row),
                "x",
                markersize=9,
                markeredgewidth=2,
                color=line.get_color(),
                label=f"{label}: exactly 0.0",
            )
    ax.axhline(
        normal, color=COLORS["black"], linestyle="--", linewidth=1,
        label="smallest normal float64 ≈ 2.2e-308",
    )  # fmt: skip
    ax.axhline(
        smallest, color=COLORS["black"], linestyle=":", linewidth=1.6,
        label="smallest float64 = 2⁻¹⁰⁷⁴ ≈ 4.9e-324\n(0.0 at 2⁻¹⁰⁷⁵ and below)",
    )  # fmt: skip
    ax.axhspan(*_ZERO_STRIP, color="0.92", zorder=0, linewidth=0)
    decades = _decade_ticks(top, smallest)
    zero_row = sum(_ZERO_STRIP) / 2
    ax.set_yticks(
        [*decades, zero_row], [*(f"$10^{{{int(d)}}}$" for d in decades), "0.0"], minor=False
    )
    top = max(top, float(decades[0]))
    ax.set_ylim(_ZERO_STRIP[0], top + 0.04 * (top - _ZERO_STRIP[0]))


def compare_distributions(
    distributions: Mapping[str, Sequence[float]],
    *,
    ax=None,
    xlabel: str = "category",
    ylabel: str = "probability",
):
    """Draw several discrete distributions over the same categories as grouped bars.

    Bars are hatched as well as coloured, so the groups stay apart in greyscale.
    """
    ax = _axes(ax)
    labels = list(distributions)
    k = len(np.asarray(distributions[labels[0]]))
    width = 0.8 / len(labels)
    hatches = ["", "//", "..", "xx"]
    for index, label in enumerate(labels):
        values = np.asarray(distributions[label], dtype=float)
        if values.shape != (k,):
            raise ValueError("every distribution must have the same number of categories")
        offsets = np.arange(k) - 0.4 + width * (index + 0.5)
        ax.bar(
            offsets,
            values,
            width,
            label=label,
            hatch=hatches[index % len(hatches)],
            edgecolor="white",
        )
    ax.set_xticks(np.arange(k))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def histogram_with_density(
    x,
    densities: Mapping[str, object] | None = None,
    *,
    ax=None,
    bins="auto",
    xlabel: str = "$x$",
    discrete: bool = False,
):
    """Draw a normalized histogram of the data ``x`` with model densities on top.

    Parameters
    ----------
    densities : mapping of label to callable, optional
        Each callable maps an array of x values to densities (or, with ``discrete``,
        probabilities of the integers).
    discrete : bool
        Treat ``x`` as counts: one bar per integer, models drawn as dots.
    """
    ax = _axes(ax)
    x = np.asarray(x)
    if discrete:
        values = np.arange(int(x.min()), int(x.max()) + 1)
        frequencies = np.bincount(x - values[0], minlength=values.size) / x.size
        ax.bar(values, frequencies, color=COLORS["sky"], label="data (frequencies)")
        grid = values
    else:
        ax.hist(x, bins=bins, density=True, color=COLORS["sky"], alpha=0.7, label="data")
        grid = np.linspace(x.min(), x.max(), 400)
    for index, (label, density) in enumerate((densities or {}).items()):
        color = _CYCLE[(index + 1) % len(_CYCLE)]
        if discrete:
            ax.plot(grid, density(grid), "o", color=color, label=label)
        else:
            ax.plot(grid, density(grid), _LINESTYLES[index % 4], color=color, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability" if discrete else "density")
    ax.legend()
    return ax
