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


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.coin_flips(-1), "non-negative integer"),
        (lambda: data.coin_flips(3, theta=1.5), "theta must lie in"),
        (lambda: data.gaussian_sample(3, sigma=0), "sigma"),
        (lambda: data.categorical_sample(3, [0.5, 0.6]), "summing to 1"),
        (lambda: data.coin_flips(3, rng="nope"), "numpy.random.Generator"),
    ],
)
def test_bad_arguments_get_a_clear_error(call, message):
    """Does a bad argument raise an error that names the problem?"""
    with pytest.raises((ValueError, TypeError), match=message):
        call()
