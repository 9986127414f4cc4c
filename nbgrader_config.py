"""nbgrader configuration for the course. The repository root is the nbgrader course root.

Only what a course needs and nbgrader does not default to is set here.
"""

from pathlib import Path

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "nll-first-principles"

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A student who deletes or edits a test cell gets the instructor's version back and is
# graded on it. nbgrader's default leaves a deleted test cell ungraded.
c.OverwriteCells.add_missing_cells = True

# No cell in the course needs more than a few seconds; a runaway loop costs 30 s at most.
c.Execute.timeout = 30

# nbgrader marks a test cell 0 when anything reaches stderr. The tests silence NumPy's
# warnings around learner code; this drops what is left of a Python warning (a line like
# "file.py:12: RuntimeWarning: divide by zero ..."), so no correct answer is zeroed by one.
# Errors are separate outputs and are never ignored.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"^(?:[^\n]*:\d+: \w*Warning: [^\n]*\n(?:  [^\n]*\n?)*)+$"
