"""Are the course's data generators reproducible, well-typed and strict about bad input?"""

import numpy as np
import pytest

from course import data


@pytest.mark.parametrize(
    "make",
    [
        lambda **k: data.coin_flips(50, 0.3, **k),
        lambda **k: data.gaussian_sample(50, 1.0, 2.0, **k),
        lambda **k: data.categorical_sample(50, [0.2, 0.5, 0.3], **k),
        lambda **k: data.poisson_counts(50, 3.0, **k),
        lambda **k: data.exponential_waits(50, 0.5, **k),
        lambda **k: data.laplace_sample(50, 1.0, 2.0, **k),
        lambda **k: np.column_stack(data.linear_data(50, (1.0, 2.0), 0.5, **k)),
        lambda **k: np.column_stack(data.softmax_data(50, [[0.0, 1.0], [2.0, -2.0]], **k)),
    ],
)
def test_same_seed_same_data_other_seed_other_data(make):
    """Does a seed fix the data, and does another seed change it?"""
    assert np.array_equal(make(seed=1), make(seed=1))
    assert not np.array_equal(make(seed=1), make(seed=2))


def test_rng_argument_draws_from_the_given_generator():
    """Does passing rng= advance that generator instead of reseeding?"""
    rng = np.random.default_rng(0)
    first, second = data.coin_flips(20, rng=rng), data.coin_flips(20, rng=rng)
    assert not np.array_equal(first, second)


def test_values_have_the_promised_types_and_ranges():
    """Are flips 0/1 ints, categories in 0..k-1, counts non-negative ints, waits positive?"""
    assert set(np.unique(data.coin_flips(200, 0.5))) == {0, 1}
    assert data.coin_flips(10).dtype.kind == "i"
    categories = data.categorical_sample(500, [0.1, 0.0, 0.9])
    assert set(np.unique(categories)) <= {0, 2}
    assert data.poisson_counts(100, 2.0).min() >= 0
    assert data.exponential_waits(100, 2.0).min() > 0


def test_sample_statistics_match_the_parameters():
    """Do large samples land near the parameters they were drawn with?"""
    assert abs(data.coin_flips(100_000, 0.3).mean() - 0.3) < 0.01
    x = data.gaussian_sample(100_000, 1.5, 2.0)
    assert abs(x.mean() - 1.5) < 0.03 and abs(x.std() - 2.0) < 0.03
    assert abs(data.exponential_waits(100_000, 0.5).mean() - 2.0) < 0.05


def test_logistic_data_has_an_intercept_column_and_overlapping_classes():
    """Does logistic_data put ones in the first column and produce non-separable labels?"""
    X, y = data.logistic_data(300, w=(-1.0, 2.0), seed=0)
    assert X.shape == (300, 2) and np.all(X[:, 0] == 1.0)
    # Not separable on the feature: the classes' ranges overlap.
    assert X[y == 1, 1].min() < X[y == 0, 1].max()


def test_laplace_sample_has_its_median_and_mean_absolute_deviation():
    """Does a large Laplace sample have median mu and mean |x - mu| of b?"""
    x = data.laplace_sample(100_000, mu=2.0, b=3.0)
    assert abs(np.median(x) - 2.0) < 0.05 and abs(np.mean(np.abs(x - 2.0)) - 3.0) < 0.05


def test_linear_data_follows_its_weights_and_noise():
    """Does linear_data put ones in the first column, and do least squares recover w and sigma?"""
    X, y = data.linear_data(20_000, w=(1.0, -2.0, 0.5), sigma=0.7, seed=3)
    assert X.shape == (20_000, 3) and np.all(X[:, 0] == 1.0) and y.shape == (20_000,)
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert np.allclose(w, [1.0, -2.0, 0.5], atol=0.03)
    assert abs(np.sqrt(np.mean((y - X @ w) ** 2)) - 0.7) < 0.02


def test_softmax_data_draws_labels_from_the_softmax_of_the_logits():
    """Do the labels of softmax_data occur as often as the softmax model says?"""
    W = np.array([[0.5, 0.0, -0.5]])  # intercepts only: the same class probabilities for all
    X, y = data.softmax_data(60_000, W, seed=4)
    assert X.shape == (60_000, 1) and y.dtype.kind == "i" and set(np.unique(y)) == {0, 1, 2}
    expected = np.exp(W[0]) / np.exp(W[0]).sum()
    assert np.allclose(np.bincount(y) / y.size, expected, atol=0.01)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.coin_flips(-1), "non-negative integer"),
        (lambda: data.coin_flips(3, theta=1.5), "theta must lie in"),
        (lambda: data.gaussian_sample(3, sigma=0), "sigma"),
        (lambda: data.categorical_sample(3, [0.5, 0.6]), "summing to 1"),
        (lambda: data.coin_flips(3, rng="nope"), "numpy.random.Generator"),
        (lambda: data.laplace_sample(3, b=0.0), "scale"),
        (lambda: data.linear_data(3, sigma=-1.0), "sigma"),
        (lambda: data.softmax_data(3, [1.0, 2.0]), "2-D"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, message):
    """Does a bad argument raise an error that names the problem?"""
    with pytest.raises((ValueError, TypeError), match=message):
        call()
