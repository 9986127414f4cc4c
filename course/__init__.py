"""Helpers that the notebooks of *Negative log-likelihood from first principles* import.

``course.data``
    Seeded data generators: every random number in the course comes from here.
``course.plots``
    One consistent, colour-blind-safe plotting style and the course's recurring figures.
``course.checks``
    What visible and hidden tests use to fail with a message written for a learner.
``course.widgets``
    Small interactive explorers (ipywidgets sliders) for the notebooks.
"""

__version__ = "0.1.0"
