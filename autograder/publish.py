"""``autograder publish DEST``: write the student-only course, ready to push as a public repository.

The tree holds what a learner needs and nothing an instructor keeps to themselves::

    release/NN_topic/NN_topic.ipynb   the student notebooks, regenerated from source/
    course/                           the package the notebooks import
    environment.yml, postBuild        Binder (repo2docker) and conda
    pyproject.toml                    installs `course` only
    Makefile                          `make lab`: set up once, then open the first notebook
    README.md, .gitignore, docs/      how to start and how to check your work

No ``source/``, ``autograder/``, tests, gradebook or nbgrader configuration goes in, and
the notebooks are made by the same nbgrader pipeline as ``autograder release`` (solutions
and hidden tests cleared). The notebooks keep their ``release/`` paths, so ``course.lab``,
the Binder link and the instructor's README name the same files in both repositories.

Which assignments go in is the instructor's call, week by week: the ones named
(``--only``), else those listed in ``released.txt`` at the course root (one name a line,
``#`` starts a comment). Without either, the command line refuses rather than publish a
draft (``--all`` says every assignment is meant). Republishing into an earlier publish
keeps the student repository its Binder badge points at unless ``--repo`` names another.
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import tomllib
from pathlib import Path

import nbformat

from autograder.course import CourseError, check_assignments, did_you_mean, find_root
from autograder.course import assignments as course_assignments
from autograder.release import release

DEFAULT_REPO = "OWNER/nll-course"
#: The instructor's list of released assignments, at the course root.
RELEASED_FILE = "released.txt"
FIRST_NOTEBOOK = "release/01_likelihood/01_likelihood.ipynb"
SCREENSHOT = "docs/jupyterlab.png"
_REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GITHUB_REMOTE = re.compile(r"url\s*=\s*\S*github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?\s")

PYPROJECT = """\
# Installs the `course` package the notebooks import, with what they need to run.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "nll-course"
version = "{version}"
description = "Negative log-likelihood from first principles: the course notebooks"
requires-python = "{requires_python}"
dependencies = [
{dependencies}
]

[tool.setuptools.packages.find]
include = ["course*"]
"""

MAKEFILE = """\
# `make lab` sets up a virtual environment in .venv (first time only) and opens the course.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8888
NOTEBOOK ?= {notebook}

.PHONY: install lab clean

install: $(STAMP)

# Reinstall whenever the dependency list changes. postBuild is what Binder runs too: it
# turns on the Validate button and turns off nbgrader's instructor tools.
$(STAMP): pyproject.toml postBuild
\t@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --upgrade pip
\t$(BIN)/python -m pip install --quiet -e .
\tPATH="$(abspath $(BIN)):$$PATH" ./postBuild >$(VENV)/postBuild.log 2>&1 \\
\t  || {{ cat $(VENV)/postBuild.log; exit 1; }}
\t@touch $(STAMP)

lab: install
\t@$(BIN)/python -m course.lab --host $(HOST) --port $(PORT) --notebook $(NOTEBOOK)

clean:
\trm -rf $(VENV) *.egg-info
"""

GITIGNORE = """\
.venv/
*.egg-info/
__pycache__/
.ipynb_checkpoints/
"""

ENVIRONMENT_HEADER = """\
# What the notebooks need, for Binder (repo2docker) and conda:
#   conda env create -f environment.yml && conda activate {name}
#   pip install --no-deps -e . && python -m course.lab
"""

README = """\
# Negative log-likelihood from first principles

Jupyter notebooks that build, one idea at a time, the loss almost every probabilistic
model is trained with,

$$\\text{{mean NLL}}(\\theta) = -\\frac{{1}}{{n}}\\sum_{{i=1}}^{{n}}\\log p_\\theta(x_i),$$

from "the data are independent, so the likelihood is a product" to maximum-likelihood
estimation in practice. Each exercise asks for a few lines of Python; tests under it tell
you whether they are right and, when they are not, what came back and a hint.

[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url})

**Start in your browser, nothing to install:** press the Binder badge. The first notebook
opens in JupyterLab after a minute or two. Binder keeps nothing: use *File → Download* to
keep your work before you close the tab.
{screenshot}
## The notebooks

Work through them in order; each builds on the one before.

{notebooks}

## Run it on your computer

You need Python 3.11 or newer with `pip`, and `make`:

```bash
make lab            # first time: sets up .venv; then opens the first notebook
make lab PORT=8890  # when port 8888 is taken
```

It prints the address to open in your browser; stop it with Ctrl+C. Without `make`:

```bash
python3 -m venv .venv
.venv/bin/python -m pip install -e .
.venv/bin/python -m course.lab
```

With conda: `conda env create -f environment.yml`, `conda activate {environment}`,
`pip install --no-deps -e .`, then `python -m course.lab`.

## Check your work

Each exercise is a function whose body says `raise NotImplementedError()`: replace that
line with your answer, run the cell, then run the test cells below it.

- **A test cell with no output passed.** A failing one says, in a few lines, what it
  called, what it expected, what your function returned, and a hint that names the usual
  mistake when yours is one. *Run All* runs every cell, failing tests included, so every
  figure shows even in a notebook you have not finished.
- **Validate**, in the notebook toolbar, saves the notebook, runs it from the top in a
  fresh kernel, then either says *Success! Your notebook passes all the tests.* or starts
  with a summary (exercises not started, tests failing by name, written answers missing)
  and lists every cell that failed: each test with its message (expected, got, hint); an
  exercise not done yet says which function to write, and a written answer not given yet
  shows *You did not provide a response.*
- Some tests are hidden: they run only when an instructor grades the notebook. Aim for a
  function that is right in general, not only on the examples you can see.
"""


def _dependencies(root: Path) -> dict:
    """The runtime part of the course's pyproject.toml: what the student package needs."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return {
        "version": project["version"],
        "requires_python": project.get("requires-python", ">=3.11"),
        "dependencies": "\n".join(f'    "{r}",' for r in project["dependencies"]),
    }


def _environment(root: Path) -> tuple[str, str]:
    """environment.yml with the instructor repository's comments replaced by a learner's,
    and the environment's name."""
    lines = (root / "environment.yml").read_text().splitlines(keepends=True)
    body = "".join(lines[next(i for i, line in enumerate(lines) if not line.startswith("#")) :])
    found = re.search(r"^name:\s*(\S+)", body, re.MULTILINE)
    name = found.group(1) if found else "nll-course"
    return ENVIRONMENT_HEADER.format(name=name) + body, name


def _title(notebook: Path) -> str:
    """A notebook's title: its first markdown heading, without the leading number."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return re.sub(r"^\d+\.\s*", "", line[2:].strip())
    return notebook.stem


def first_notebook(tree: Path) -> str:
    """The notebook the Binder badge and ``make lab`` open: the course's first one if it
    is published, else the first published."""
    if (tree / FIRST_NOTEBOOK).is_file():
        return FIRST_NOTEBOOK
    found = sorted((tree / "release").glob("*/*.ipynb"))
    return found[0].relative_to(tree).as_posix() if found else FIRST_NOTEBOOK


def _readme(tree: Path, repo: str, environment: str) -> str:
    notebooks = "\n".join(
        f"{i}. [{_title(path)}]({path.relative_to(tree).as_posix()})"
        for i, path in enumerate(sorted((tree / "release").glob("*/*.ipynb")), start=1)
    )
    screenshot = (
        f"\n![The first notebook in JupyterLab: a figure and its slider]({SCREENSHOT})\n"
        if (tree / SCREENSHOT).is_file()
        else ""
    )
    return README.format(
        binder_url=binder_url(repo, first_notebook(tree)),
        screenshot=screenshot,
        notebooks=notebooks,
        environment=environment,
    )


def binder_url(repo: str, notebook: str = FIRST_NOTEBOOK) -> str:
    """The mybinder.org address that builds ``repo`` (``OWNER/NAME`` on GitHub) and opens
    ``notebook`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{repo}/HEAD?urlpath=lab/tree/{notebook}"


def check_destination(dest: Path, root: Path, force: bool) -> None:
    if dest == root or root in dest.parents:
        raise CourseError(f"{dest} is inside the course {root}: publish to a folder outside it")
    if dest in root.parents:
        raise CourseError(f"{dest} contains the course {root}: publish to a folder outside it")
    if dest.exists() and not dest.is_dir():
        raise CourseError(f"{dest} exists and is not a folder")
    if not dest.exists() or not any(dest.iterdir()):
        return
    if not force:
        raise CourseError(
            f"{dest} exists and is not empty: choose a new folder, or pass --force to replace "
            "its contents (a .git folder is kept)"
        )
    if not ((dest / ".git").exists() or (dest / "course" / "__init__.py").is_file()):
        raise CourseError(
            f"refusing to empty {dest}: it is neither a git clone nor an earlier publish"
        )


def _empty(folder: Path) -> None:
    """Delete everything in ``folder`` except its ``.git``: republishing into a clone of
    the student repository leaves a commit-ready diff."""
    for entry in folder.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _build(tree: Path, root: Path, repo: str, names: list[str]) -> None:
    """Write the student tree of the assignments ``names`` into the empty folder ``tree``."""
    release(names, root=root, out=tree / "release")
    shutil.copytree(
        root / "course", tree / "course", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    environment, environment_name = _environment(root)
    (tree / "environment.yml").write_text(environment)
    post_build = tree / "postBuild"
    shutil.copyfile(root / "postBuild", post_build)
    post_build.chmod(post_build.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (tree / "pyproject.toml").write_text(PYPROJECT.format(**_dependencies(root)))
    (tree / "Makefile").write_text(MAKEFILE.format(notebook=first_notebook(tree)))
    (tree / ".gitignore").write_text(GITIGNORE)
    if (root / SCREENSHOT).is_file():
        (tree / SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / SCREENSHOT, tree / SCREENSHOT)
    # The README lists the notebooks and shows the screenshot: it is written last.
    (tree / "README.md").write_text(_readme(tree, repo, environment_name))


def released(root: Path) -> list[str] | None:
    """The assignments listed in ``released.txt`` (checked against the course), or None
    when the course has no such file."""
    path = Path(root) / RELEASED_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CourseError(f"cannot read {path}: {error}") from None
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    names = [name for name in names if name]
    known = course_assignments(root)
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known)
            raise CourseError(f"{path} lists {name}, which is no assignment of the course{hint}")
    if not names:
        raise CourseError(f"{path} lists no assignment: nothing to publish")
    return list(dict.fromkeys(names))


def previous_repo(dest: Path) -> str | None:
    """The student repository an earlier publish into ``dest`` was given: the one its
    README's Binder badge points at (never the placeholder), else the GitHub remote of
    its git clone."""
    try:
        readme = (Path(dest) / "README.md").read_text(errors="replace")
    except OSError:
        readme = ""
    found = re.search(r"https://mybinder\.org/v2/gh/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/", readme)
    if found and found.group(1) != DEFAULT_REPO:
        return found.group(1)
    try:
        config = (Path(dest) / ".git" / "config").read_text(errors="replace")
    except OSError:
        return None
    found = re.search(
        r"url\s*=\s*\S*github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?\s", config
    )
    return found.group(1) if found else None


def publish(
    dest: Path | str,
    *,
    root: Path | None = None,
    repo: str | None = None,
    force: bool = False,
    only: list[str] | None = None,
) -> list[Path]:
    """Write the student-only repository tree of the course into ``dest``.

    Parameters
    ----------
    dest : path
        Where the tree goes: a new or empty folder outside the course. With ``force``,
        a git clone of the student repository or an earlier publish, whose contents
        (all but ``.git``) are replaced.
    root : path, optional
        The course root (default: found from the working directory).
    repo : str, optional
        The student repository on GitHub, ``OWNER/NAME``, for the README's Binder badge.
        Default: the one an earlier publish into ``dest`` was given, else a placeholder.
    force : bool
        Replace the contents of a non-empty ``dest``.
    only : list of str, optional
        The assignments to publish. Default: those listed in ``released.txt`` at the
        course root, or every assignment when there is no such file (the command line
        asks for ``--all`` then).

    Returns
    -------
    list of pathlib.Path
        Every file written, sorted.
    """
    root = find_root(root) if root is None else Path(root).resolve()
    dest = Path(dest).expanduser().resolve()
    check_destination(dest, root, force)
    names = check_assignments(root, only) if only else released(root)
    if repo is None:
        repo = (previous_repo(dest) if dest.is_dir() else None) or DEFAULT_REPO
    if not _REPO_PATTERN.match(repo):
        raise CourseError(f"the student repository must be OWNER/NAME, got {repo!r}")
    for required in ("course/__init__.py", "environment.yml", "postBuild", "pyproject.toml"):
        if not (root / required).is_file():
            raise CourseError(f"{root} has no {required}: cannot publish the student course")
    # Build beside, then move in: a failure halfway leaves DEST as it was.
    with tempfile.TemporaryDirectory(prefix="autograder-publish-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        _build(tree, root, repo, names)
        dest.mkdir(parents=True, exist_ok=True)
        _empty(dest)
        for entry in tree.iterdir():
            shutil.move(str(entry), dest / entry.name)
    return sorted(
        p for p in dest.rglob("*") if p.is_file() and ".git" not in p.relative_to(dest).parts
    )
