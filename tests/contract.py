"""The exercise contract (shared/CURRICULUM.md), as data the tests check the course against."""

ASSIGNMENTS = {
    "01_likelihood": {
        "likelihood_bernoulli": ("x", "theta"),
        "likelihood_gaussian": ("x", "mu", "sigma"),
    },
    "02_log_likelihood": {
        "log_likelihood_bernoulli": ("x", "theta"),
        "log_likelihood_gaussian": ("x", "mu", "sigma"),
        "logsumexp": ("a",),
    },
    "03_minus_sign": {
        "nll_bernoulli": ("x", "theta"),
        "nll_gaussian": ("x", "mu", "sigma"),
        "fit_bernoulli_numeric": ("x",),
    },
    "04_average": {
        "mean_nll": ("log_pdf", "x", "*params"),
        "surprise": ("p",),
    },
    "05_kl_divergence": {
        "entropy": ("p",),
        "cross_entropy": ("p", "q"),
        "kl_divergence": ("p", "q"),
        "empirical_distribution": ("x", "k"),
        "mean_nll_categorical": ("x", "q"),
    },
    "06_mle": {
        "mle_bernoulli": ("x",),
        "mle_gaussian": ("x",),
        "mle_categorical": ("x", "k"),
        "mle_poisson": ("x",),
        "mle_exponential": ("x",),
        "mle_laplace": ("x",),
        "mle_logistic_regression": ("X", "y"),
    },
    "07_conditional_models": {
        "mean_nll_linear_regression": ("X", "y", "w", "sigma"),
        "fit_linear_regression": ("X", "y"),
        "log_softmax": ("Z",),
        "softmax_cross_entropy": ("Z", "y"),
        "smoothed_distribution": ("x", "k", "alpha"),
    },
}
