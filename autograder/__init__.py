"""Instructor tooling for the course: one module per command, a thin CLI on top.

The data flows one way, one module per arrow::

    source/ --release--> release/ --(students)--> submitted/
            --grade (sandboxed)--> gradebook.db + autograded/ --export--> grades/*.csv
                                                              --feedback--> feedback/*.html

Every command is a plain function with keyword arguments (``autograder.release.release``,
``autograder.grade.grade``, ...); ``autograder.cli`` only parses arguments and forwards.
"""

__version__ = "0.1.0"
