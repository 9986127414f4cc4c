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

# Student work is shown to instructors as HTML: formgrader renders each autograded notebook
# inside the instructor's own Jupyter server, where a student's script would run as the
# instructor (read the XSRF cookie, start a kernel, rewrite the gradebook), and
# `nbgrader generate_feedback` writes pages from the same notebooks. Both build the page
# with nbconvert's HTMLExporter configured from this file (docs/grading.md):
# - sanitize_html cleans HTML and markdown outputs and leaves out JavaScript and widgets;
# - MakeInert does to the page's copy of the notebook what the grader does to the
#   autograded notebooks it writes, for notebooks graded some other way (it also removes
#   image metadata that nbconvert's templates would write into a tag unquoted);
# - nbgrader's formgrade and feedback templates render markdown cells (written answers)
#   with markdown2html alone, without sanitize_html's check, so markdown2html is replaced
#   by one that cleans; clean_html is replaced by the grader's own, which keeps paragraphs,
#   tables and images (nbconvert's escapes them) and drops the ids formgrader's scripts
#   look up. All three are in autograder/inert.py; without it installed, formgrader shows
#   an error instead of a page.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.preprocessors = ["autograder.inert.MakeInert"]
c.HTMLExporter.filters = {
    "clean_html": "autograder.inert.clean_html",
    "markdown2html": "autograder.inert.markdown2html",
}

# Validate (in the instructor's JupyterLab too) lists a summary of the notebook first and
# each failing test by its name and docstring: course/validate.py. postBuild gives learners
# the same. Without the course package installed, Validate is nbgrader's own.
try:
    from course.validate import configure as summarize_validate
except ImportError:
    pass
else:
    summarize_validate(c)
