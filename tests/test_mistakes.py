"""Is each common mistake told, by the first test that fails on it, which mistake it made?

A learner reads the first failure under their answer. For every ``mistake_*.py`` of the
corpus (tests/fixtures/answers/) the first visible check that fails must give the hint
that names that mistake, in a message of at most 8 lines whose numbers have at most 6
significant digits. The table below says which hint each mistake must see (a piece of
its text); a mistake added to the corpus needs its line here.
"""

from __future__ import annotations

import re

import pytest

from course.checks import MAX_LINES
from tests.conftest import assignment_names
from tests.contract import ASSIGNMENTS
from tests.mistakes import first_failures
from tests.submissions import fixture_answers

FIRST_HINTS = {
    "01_likelihood": {
        ("likelihood_bernoulli", "mistake_heads_only"): "product of the heads alone",
        ("likelihood_bernoulli", "mistake_mean_probability"): "mean of the per-flip probabilities",
        ("likelihood_bernoulli", "mistake_sum_not_product"): "sum of the per-flip probabilities",
        ("likelihood_bernoulli", "mistake_swapped_theta"): "Did you swap theta and 1 - theta?",
        ("likelihood_gaussian", "mistake_missing_sqrt_2pi"): "Did you include the sqrt(2 * pi)?",
        ("likelihood_gaussian", "mistake_no_half"): "did you leave out the 2?",
        ("likelihood_gaussian", "mistake_sum_of_densities"): "sum of the three densities",
        ("likelihood_gaussian", "mistake_variance_as_sigma"): "Did you use sigma where sigma**2",
    },
    "02_log_likelihood": {
        ("log_likelihood_bernoulli", "mistake_log10"): "that is log base 10",
        ("log_likelihood_bernoulli", "mistake_log_of_product"): "the product underflowed",
        ("log_likelihood_bernoulli", "mistake_mean_instead_of_sum"): "mean of the four logs",
        ("log_likelihood_bernoulli", "mistake_nan_at_edges"): "A nan means 0 * log(0)",
        ("log_likelihood_bernoulli", "mistake_swapped_theta"): "Did you swap theta and 1 - theta?",
        ("log_likelihood_gaussian", "mistake_log_of_density"): "not log(density)",
        ("log_likelihood_gaussian", "mistake_log_of_product"): "a product of densities underflowed",
        ("log_likelihood_gaussian", "mistake_no_constant"): "Did you drop the constant?",
        ("log_likelihood_gaussian", "mistake_no_log_sigma"): "Did you drop -log(sigma)",
        ("log_likelihood_gaussian", "mistake_variance_as_std"): "use sigma for sigma**2?",
        ("logsumexp", "mistake_forgot_max"): "add it back",
        ("logsumexp", "mistake_hard_max"): "the largest entry alone",
        ("logsumexp", "mistake_naive_overflow"): "exp(1000) overflowed",
        ("logsumexp", "mistake_nan_all_neg_inf"): "you computed -inf - (-inf)",
    },
    "03_minus_sign": {
        ("fit_bernoulli_numeric", "mistake_coarse_grid"): "A grid of 101 points",
        ("fit_bernoulli_numeric", "mistake_fraction_of_zeros"): "the fraction of zeros",
        ("fit_bernoulli_numeric", "mistake_maximises_nll"): "did you minimize the log-likelihood",
        ("fit_bernoulli_numeric", "mistake_returns_result_object"): "return its `.x`",
        ("nll_bernoulli", "mistake_forgot_minus_sign"): "Did you forget the minus sign?",
        ("nll_bernoulli", "mistake_log_of_product"): "underflowed to 0.0 before you took its log",
        ("nll_bernoulli", "mistake_mean_not_sum"): "mean of the four costs",
        ("nll_bernoulli", "mistake_nan_at_edges"): "0 * log(0) counts as 0",
        ("nll_bernoulli", "mistake_swapped_theta"): "Did you swap theta and 1 - theta?",
        ("nll_gaussian", "mistake_forgot_minus_sign"): "the minus sign is missing",
        ("nll_gaussian", "mistake_mean_not_sum"): "mean of the three terms",
        ("nll_gaussian", "mistake_no_log_sigma"): "leave out the log(sigma) term",
        ("nll_gaussian", "mistake_variance_for_sigma"): "use sigma where sigma**2 belongs?",
    },
    "04_average": {
        ("mean_nll", "mistake_ignores_params"): "the value for mu = 0 and sigma = 1",
        ("mean_nll", "mistake_n_minus_one"): "divide by n, not n - 1",
        ("mean_nll", "mistake_no_minus"): "Did you forget the minus sign?",
        ("mean_nll", "mistake_params_as_tuple"): "log_pdf(x, params) would pass them as one tuple",
        ("mean_nll", "mistake_sum"): "did you divide by n?",
        ("surprise", "mistake_bits"): "you computed bits",
        ("surprise", "mistake_entropy_term"): "not -p ln p",
        ("surprise", "mistake_math_scalar_only"): "math.log only on single numbers",
        ("surprise", "mistake_no_minus"): "Did you forget the minus sign?",
        ("surprise", "mistake_reciprocal"): "not 1/p",
    },
    "05_kl_divergence": {
        ("cross_entropy", "mistake_missing_minus"): "Did you forget the minus sign?",
        ("cross_entropy", "mistake_nan_at_zero"): "not nan: skip the p_i = 0 terms",
        ("cross_entropy", "mistake_swapped_p_q"): "you swapped p and q",
        ("empirical_distribution", "mistake_bincount_without_minlength"): "minlength=k",
        ("empirical_distribution", "mistake_counts_not_frequencies"): "Did you return counts?",
        ("empirical_distribution", "mistake_unique_counts"): "np.unique does not",
        ("entropy", "mistake_log2"): "bits (log2)",
        ("entropy", "mistake_missing_minus"): "Did you forget the minus sign?",
        ("entropy", "mistake_nan_at_zero"): "0 ln 0 counts as 0",
        ("kl_divergence", "mistake_clips_q_epsilon"): "not a large finite number",
        ("kl_divergence", "mistake_log2"): "bits (log2)",
        ("kl_divergence", "mistake_nan_where_p_zero"): "the p_i = 0 term is 0, not nan",
        ("kl_divergence", "mistake_swapped_arguments"): "you swapped p and q",
        ("mean_nll_categorical", "mistake_indexes_by_position"): "not at its position i",
        ("mean_nll_categorical", "mistake_missing_minus"): "Did you forget the minus sign?",
        ("mean_nll_categorical", "mistake_sum_not_mean"): "sum of the four surprises",
    },
    "06_mle": {
        ("mle_bernoulli", "mistake_count_not_fraction"): "the number of ones",
        ("mle_bernoulli", "mistake_fraction_of_zeros"): "the fraction of zeros",
        ("mle_bernoulli", "mistake_laplace_smoothing"): "pseudo-counts",
        ("mle_categorical", "mistake_counts"): "probabilities, not counts",
        ("mle_categorical", "mistake_no_minlength"): "minlength",
        ("mle_categorical", "mistake_unique"): "0 for the ones that never occur",
        ("mle_exponential", "mistake_expon_fit_loc"): "floc=0",
        ("mle_exponential", "mistake_expon_fit_scale"): "the scale 1/lambda",
        ("mle_exponential", "mistake_scale"): "the scale 1/lambda",
        ("mle_gaussian", "mistake_ddof1"): "not n - 1",
        ("mle_gaussian", "mistake_swapped_order"): "mu (the sample mean) first",
        ("mle_gaussian", "mistake_variance"): "the square root",
        ("mle_laplace", "mistake_mean"): "that is the mean",
        ("mle_laplace", "mistake_median_absolute_deviation"): "the median of |x_i - mu|",
        ("mle_laplace", "mistake_n_minus_one"): "by n, not n - 1",
        ("mle_laplace", "mistake_std_scale"): "that is the standard deviation",
        ("mle_laplace", "mistake_swapped_order"): "the two numbers are swapped",
        ("mle_logistic_regression", "mistake_adds_intercept"): "do not add another intercept",
        ("mle_logistic_regression", "mistake_gradient_sign"): "check the sign",
        ("mle_logistic_regression", "mistake_skips_first_column"): "your first weight is exactly 0",
        ("mle_logistic_regression", "mistake_squared_error"): "minimizes the squared error",
        ("mle_logistic_regression", "mistake_too_few_steps"): "Take more steps",
        ("mle_poisson", "mistake_median"): "the median (3)",
        ("mle_poisson", "mistake_variance"): "The variance (14/3 here)",
    },
    "07_conditional_models": {
        ("fit_linear_regression", "mistake_adds_intercept"): "do not add another intercept",
        ("fit_linear_regression", "mistake_sigma_of_y"): "mean((y - X @ w)**2)",
        ("fit_linear_regression", "mistake_swapped_order"): "return w first, then sigma",
        ("fit_linear_regression", "mistake_unbiased_sigma"): "Did you divide by n - d",
        ("fit_linear_regression", "mistake_variance"): "that is the variance sigma**2",
        ("log_softmax", "mistake_naive"): "subtract each row's maximum",
        ("log_softmax", "mistake_shift_only"): "but not the log of the normalizer",
        ("log_softmax", "mistake_softmax"): "the softmax probabilities themselves",
        ("log_softmax", "mistake_whole_array"): "not the whole array",
        ("log_softmax", "mistake_wrong_axis"): "axis=-1",
        ("mean_nll_linear_regression", "mistake_log_of_pdf"): "a density underflowed",
        ("mean_nll_linear_regression", "mistake_mse_only"): "the mean squared error alone",
        ("mean_nll_linear_regression", "mistake_no_constant"): "term is missing",
        (
            "mean_nll_linear_regression",
            "mistake_sigma_as_variance",
        ): "sigma is the standard deviation",
        ("mean_nll_linear_regression", "mistake_sum"): "did you divide by n?",
        ("smoothed_distribution", "mistake_default_alpha_zero"): "alpha defaults to 1.0",
        ("smoothed_distribution", "mistake_denominator_n_plus_alpha"): "not n + alpha",
        ("smoothed_distribution", "mistake_fakes_equality"): "q_j = (count of category j + alpha)",
        ("smoothed_distribution", "mistake_smooths_seen_only"): "the unseen ones included",
        ("softmax_cross_entropy", "mistake_columns"): "A[:, y] picks whole columns",
        ("softmax_cross_entropy", "mistake_logits_as_log_probabilities"): "not log-probabilities",
        ("softmax_cross_entropy", "mistake_naive"): "max-shift trick",
        ("softmax_cross_entropy", "mistake_sum"): "did you add instead of averaging?",
    },
}

# A number with a decimal point, and how many significant digits it shows.
_DECIMAL = re.compile(r"\d+\.\d+")


def _significant_digits(number: str) -> int:
    return len(number.rstrip("0").rstrip(".").replace(".", "").lstrip("0"))


def test_significant_digits_are_counted_as_a_reader_counts_them():
    """Does the digit count used below read 0.000333184 as 6 digits and 610719.0 as 6?"""
    assert [_significant_digits(n) for n in ("0.000333184", "610719.0", "0.7316649689")] == [
        6,
        6,
        10,
    ]


def test_every_mistake_of_the_corpus_has_its_first_hint():
    """Does the table name the first hint of every mistake in the corpus, and no other?"""
    corpus = {
        (assignment, function, scenario)
        for assignment in assignment_names()
        for function, scenarios in fixture_answers(assignment).items()
        for scenario in scenarios
        if scenario.startswith("mistake_")
    }
    table = {(a, f, s) for a, hints in FIRST_HINTS.items() for f, s in hints}
    assert sorted(corpus - table) == [] and sorted(table - corpus) == []


@pytest.mark.parametrize("assignment", assignment_names())
def test_the_first_failure_names_the_mistake(assignment):
    """Does the first visible test that fails on each mistake give the hint naming it, in at
    most 8 lines, with numbers of at most 6 significant digits?"""
    problems = []
    for (function, scenario), failure in first_failures(
        assignment, ASSIGNMENTS[assignment]
    ).items():
        expected = FIRST_HINTS[assignment][(function, scenario)]
        if failure is None:
            problems.append(f"{function}/{scenario}: no visible test fails")
            continue
        where = f"{function}/{scenario} in {failure.grade_id}"
        if failure.ename != "CheckFailure":
            problems.append(f"{where}: {failure.ename}, not a learner-worded failure")
        if expected not in failure.hint:
            problems.append(f"{where}: hint {failure.hint!r} does not say {expected!r}")
        if len(failure.shown) > MAX_LINES:
            problems.append(f"{where}: {len(failure.shown)} lines")
        long = [n for n in _DECIMAL.findall("\n".join(failure.shown)) if _significant_digits(n) > 6]
        if long:
            problems.append(f"{where}: numbers with more than 6 digits: {long}")
    assert problems == []


@pytest.mark.slow
def test_grading_still_counts_every_failing_test(course_copy):
    """Now that a failure renders as a few lines and test cells may fail without stopping Run
    All, does grading still score each failing test 0, show the same short failures, and
    still tell the feedback which function is unanswered?"""
    import nbformat

    from autograder.export import cell_rows
    from autograder.grade import grade
    from tests.submissions import solved, write_submission

    assignment = "01_likelihood"
    submissions = course_copy / "submitted"
    untouched = nbformat.read(course_copy / "release" / assignment / f"{assignment}.ipynb", 4)
    swapped = fixture_answers(assignment)["likelihood_bernoulli"]["mistake_swapped_theta"]
    write_submission(submissions, "untouched", assignment, untouched)
    write_submission(
        submissions, "swapped", assignment, solved(assignment, {"likelihood_bernoulli": swapped})
    )
    outcomes = grade([assignment], root=course_copy, submissions=submissions, workers=1)
    assert [o.status for o in outcomes] == ["graded", "graded"]

    rows = [r for r in cell_rows(course_copy) if r["grade_id"].startswith("test_")]
    untouched_scores = {r["grade_id"]: r["score"] for r in rows if r["student_id"] == "untouched"}
    assert untouched_scores and set(untouched_scores.values()) == {0.0}
    swapped_lost = sorted(
        r["grade_id"] for r in rows if r["student_id"] == "swapped" and r["score"] < r["max_score"]
    )
    assert swapped_lost == [
        "test_likelihood_bernoulli_hidden",
        "test_likelihood_bernoulli_values",
    ]

    def errors(student):
        path = course_copy / "autograded" / student / assignment / f"{assignment}.ipynb"
        return [
            output
            for cell in nbformat.read(path, 4).cells
            for output in cell.get("outputs", [])
            if output.output_type == "error"
        ]

    for output in errors("untouched") + errors("swapped"):
        assert len([line for text in output.traceback for line in text.splitlines()]) <= MAX_LINES
    (failure,) = [o for o in errors("swapped") if "swap theta" in o.evalue]
    assert failure.ename == "CheckFailure"
    last_lines = {o.traceback[-1] for o in errors("untouched")}
    assert last_lines == {
        "(raised by the submission's code, in likelihood_bernoulli)",
        "(raised by the submission's code, in likelihood_gaussian)",
    }
