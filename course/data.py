"""Seeded data generators.

All randomness in the course goes through these functions, so a notebook shows the
same numbers every time it runs and on every learner's machine. Each function takes
either ``seed=`` (an int) or ``rng=`` (a :class:`numpy.random.Generator`), never both.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "categorical_sample",
    "coin_flips",
    "exponential_waits",
    "gaussian_sample",
    "laplace_sample",
    "linear_data",
    "logistic_data",
    "make_rng",
    "poisson_counts",
    "softmax_data",
]


def make_rng(seed: int | None = 0, rng: np.random.Generator | None = None) -> np.random.Generator:
    """Return ``rng`` if given, else a new generator seeded with ``seed``.

    Parameters
    ----------
    seed : int, optional
        Seed for :func:`numpy.random.default_rng`. Default 0.
    rng : numpy.random.Generator, optional
        An existing generator to draw from (its state advances).

    Raises
    ------
    TypeError
        If ``rng`` is not a :class:`numpy.random.Generator`.
    """
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"the number of samples n must be a non-negative integer, got {n!r}")
    return int(n)


def _check_probability(theta: float, name: str = "theta") -> float:
    if not 0.0 <= theta <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {theta!r}")
    return float(theta)


def coin_flips(n: int, theta: float = 0.3, *, seed: int | None = 0, rng=None) -> np.ndarray:
    """Draw ``n`` i.i.d. Bernoulli(``theta``) coin flips.

    .. math:: x_i \\sim \\mathrm{Bernoulli}(\\theta), \\quad P(x_i = 1) = \\theta

    Returns
    -------
    numpy.ndarray
        1-D array of ints, each 0 (tails) or 1 (heads).
    """
    n = _check_count(n)
    theta = _check_probability(theta)
    return (make_rng(seed, rng).random(n) < theta).astype(np.int64)


def gaussian_sample(
    n: int, mu: float = 0.0, sigma: float = 1.0, *, seed: int | None = 0, rng=None
) -> np.ndarray:
    """Draw ``n`` i.i.d. samples from a Gaussian with mean ``mu`` and standard deviation ``sigma``.

    .. math:: x_i \\sim \\mathcal{N}(\\mu, \\sigma^2)
    """
    n = _check_count(n)
    if not sigma > 0:
        raise ValueError(f"sigma (the standard deviation) must be positive, got {sigma!r}")
    return make_rng(seed, rng).normal(mu, sigma, size=n)


def categorical_sample(n: int, p, *, seed: int | None = 0, rng=None) -> np.ndarray:
    """Draw ``n`` i.i.d. categories from ``{0, ..., k-1}`` with probabilities ``p``.

    .. math:: P(x_i = j) = p_j, \\quad j = 0, \\dots, k-1

    Returns
    -------
    numpy.ndarray
        1-D array of ints in ``0..len(p)-1``.
    """
    n = _check_count(n)
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("p must be a non-empty 1-D array of non-negative numbers summing to 1")
    return make_rng(seed, rng).choice(p.size, size=n, p=p / p.sum()).astype(np.int64)


def poisson_counts(n: int, rate: float = 3.0, *, seed: int | None = 0, rng=None) -> np.ndarray:
    """Draw ``n`` i.i.d. Poisson counts with mean ``rate`` (λ).

    .. math:: P(x_i = k) = \\frac{\\lambda^k e^{-\\lambda}}{k!}
    """
    n = _check_count(n)
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    return make_rng(seed, rng).poisson(rate, size=n).astype(np.int64)


def exponential_waits(n: int, rate: float = 0.5, *, seed: int | None = 0, rng=None) -> np.ndarray:
    """Draw ``n`` i.i.d. exponential waiting times with rate ``rate`` (λ, mean ``1/rate``).

    .. math:: p(x_i) = \\lambda e^{-\\lambda x_i}, \\quad x_i \\ge 0
    """
    n = _check_count(n)
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    return make_rng(seed, rng).exponential(1.0 / rate, size=n)


def laplace_sample(
    n: int, mu: float = 0.0, b: float = 1.0, *, seed: int | None = 0, rng=None
) -> np.ndarray:
    """Draw ``n`` i.i.d. samples from a Laplace distribution with location ``mu`` and scale ``b``.

    .. math:: p(x_i) = \\frac{1}{2b} \\exp\\left(-\\frac{|x_i - \\mu|}{b}\\right)
    """
    n = _check_count(n)
    if not b > 0:
        raise ValueError(f"b (the scale) must be positive, got {b!r}")
    return make_rng(seed, rng).laplace(mu, b, size=n)


def _features(generator: np.random.Generator, n: int, columns: int) -> np.ndarray:
    """A design matrix: a column of ones (the intercept), then standard Gaussian features."""
    return np.column_stack([np.ones(n), generator.normal(size=(n, columns - 1))])


def linear_data(
    n: int, w=(1.0, 2.0), sigma: float = 1.0, *, seed: int | None = 0, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a linear-regression data set with true weights ``w`` and Gaussian noise ``sigma``.

    The first column of ``X`` is all ones (the intercept); the other columns are
    standard Gaussian features. The targets follow the model itself,

    .. math::

        y_i = x_i^\\top w + \\varepsilon_i, \\qquad \\varepsilon_i \\sim \\mathcal{N}(0, \\sigma^2)

    Returns
    -------
    X : numpy.ndarray, shape (n, len(w))
    y : numpy.ndarray, shape (n,)
    """
    n = _check_count(n)
    w = np.asarray(w, dtype=float)
    if w.ndim != 1 or w.size < 1:
        raise ValueError("w must be a 1-D array with at least one weight (the intercept)")
    if not sigma > 0:
        raise ValueError(f"sigma (the noise's standard deviation) must be positive, got {sigma!r}")
    generator = make_rng(seed, rng)
    X = _features(generator, n, w.size)
    y = X @ w + sigma * generator.normal(size=n)
    return X, y


def softmax_data(n: int, W, *, seed: int | None = 0, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw a classification data set from a softmax (multinomial logistic) model.

    ``W`` has one row per column of ``X`` and one column per class. The first column of
    ``X`` is all ones; the others are standard Gaussian features. Labels are drawn from

    .. math::

        P(y_i = j \\mid x_i) = \\frac{e^{z_{ij}}}{\\sum_l e^{z_{il}}}, \\qquad z_i = x_i^\\top W

    Returns
    -------
    X : numpy.ndarray, shape (n, W.shape[0])
    y : numpy.ndarray, shape (n,), ints in 0..W.shape[1]-1
    """
    n = _check_count(n)
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < 2:
        raise ValueError("W must be a 2-D array: one row per column of X, at least two classes")
    generator = make_rng(seed, rng)
    X = _features(generator, n, W.shape[0])
    logits = X @ W
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    # One uniform draw per sample, placed among the cumulative class probabilities.
    cumulative = np.cumsum(probabilities, axis=1)
    y = (generator.random((n, 1)) > cumulative[:, :-1]).sum(axis=1)
    return X, y.astype(np.int64)


def logistic_data(
    n: int, w=(-1.0, 2.0), *, seed: int | None = 0, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a logistic-regression data set with true weights ``w``.

    The first column of ``X`` is all ones (the intercept); the other columns are
    standard Gaussian features. Labels are drawn from the model itself,

    .. math:: P(y_i = 1 \\mid x_i) = \\sigma(x_i^\\top w) = \\frac{1}{1 + e^{-x_i^\\top w}},

    so with more than a handful of points the classes overlap (the data are not
    separable) and the maximum-likelihood weights are finite.

    Returns
    -------
    X : numpy.ndarray, shape (n, len(w))
    y : numpy.ndarray, shape (n,), ints in {0, 1}
    """
    n = _check_count(n)
    w = np.asarray(w, dtype=float)
    if w.ndim != 1 or w.size < 1:
        raise ValueError("w must be a 1-D array with at least one weight (the intercept)")
    generator = make_rng(seed, rng)
    X = _features(generator, n, w.size)
    probability = 1.0 / (1.0 + np.exp(-(X @ w)))
    y = (generator.random(n) < probability).astype(np.int64)
    return X, y
