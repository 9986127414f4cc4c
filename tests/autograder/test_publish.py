"""Is the published student tree complete, free of every solution and hidden test, and
does its own `make lab` open the course?"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from autograder.course import CourseError
from autograder.publish import publish
from tests.conftest import ROOT, assignment_names
from tests.test_binder import badge_targets
from tests.test_release import MARKERS, _split_lines

REPO = "learner-org/nll-course"
EXPECTED_TOP_LEVEL = {
    ".gitignore", "Makefile", "README.md", "course", "environment.yml", "postBuild",
    "pyproject.toml", "release",
} | ({"docs"} if (ROOT / "docs" / "jupyterlab.png").is_file() else set())  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The student tree, published once for the module."""
    dest = tmp_path_factory.mktemp("published") / "student"
    publish(dest, root=ROOT, repo=REPO)
    return dest


def _strings(value):
    """Every string inside a parsed JSON document (sources, outputs, metadata)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _lines(path: Path) -> set[str]:
    """The stripped lines of a file as a reader sees them (a notebook's decoded strings)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        text = "\n".join(_strings(json.loads(text)))
    return {line.strip() for line in text.splitlines()}


def _course_package_lines() -> set[str]:
    # The course package is public by design (the notebooks import it), so a secret line
    # that is also one of its lines (`x = np.asarray(x)`) gives nothing away.
    return {line.strip() for path in (ROOT / "course").rglob("*.py") for line in path.open()}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("assignment", assignment_names())
def test_no_file_holds_a_solution_or_hidden_test(tree, assignment):
    """Does no published file contain a marker or any solution or hidden-test line?"""
    _, secret = _split_lines(assignment)
    secret = set(secret) - _course_package_lines()
    assert secret, "nothing to look for: the check would be empty"
    leaks = {}
    for path in _files(tree):
        text = path.read_bytes().decode("utf-8", errors="replace")
        found = [m for m in MARKERS if m in text] + sorted(secret & _lines(path))
        if found:
            leaks[str(path.relative_to(tree))] = found
    assert leaks == {}


def test_tree_holds_only_what_a_learner_needs(tree):
    """Is the tree exactly the student files: no source/, autograder/, tests/, gradebook, config?"""
    assert {p.name for p in tree.iterdir()} == EXPECTED_TOP_LEVEL
    names = {p.name for p in tree.rglob("*")}
    assert not names & {"source", "autograder", "tests", "submitted", "feedback", "grades"}
    assert not names & {"gradebook.db", "nbgrader_config.py", "__pycache__", ".ipynb_checkpoints"}


def test_notebooks_are_the_released_ones(tree):
    """Are the published notebooks byte for byte the student versions in release/?"""
    published = {p.relative_to(tree): p.read_bytes() for p in _files(tree / "release")}
    released = {p.relative_to(ROOT): p.read_bytes() for p in _files(ROOT / "release")}
    assert published.keys() == released.keys()
    assert [str(path) for path in published if published[path] != released[path]] == []


def test_package_installs_the_course_and_nothing_else(tree):
    """Does the tree's pyproject install `course` alone, with the runtime dependencies only?"""
    project = tomllib.loads((tree / "pyproject.toml").read_text())
    course = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["course*"]
    assert project["project"]["dependencies"] == course["dependencies"]
    assert not {"scripts", "optional-dependencies"} & project["project"].keys()
    modules = sorted(p.relative_to(ROOT) for p in (ROOT / "course").rglob("*.py"))
    assert sorted(p.relative_to(tree) for p in (tree / "course").rglob("*.py")) == modules
    assert all((tree / m).read_bytes() == (ROOT / m).read_bytes() for m in modules)


def test_binder_files_are_the_courses(tree):
    """Does the tree carry the course's Binder setup: its executable postBuild, its packages?"""
    assert (tree / "postBuild").read_bytes() == (ROOT / "postBuild").read_bytes()
    assert os.access(tree / "postBuild", os.X_OK)
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("#")]  # noqa: E731
    environment = (tree / "environment.yml").read_text()
    assert strip(environment) == strip((ROOT / "environment.yml").read_text())
    assert "tests/" not in environment and "pyproject" not in environment


def test_readme_opens_the_first_notebook_and_says_how_to_check(tree):
    """Does the student README's Binder badge open a notebook of the tree, and explain Validate?"""
    readme = (tree / "README.md").read_text()
    targets = badge_targets(readme)
    assert [url.split("/HEAD?")[0] for url, _ in targets] == [f"https://mybinder.org/v2/gh/{REPO}"]
    assert (tree / targets[0][1]).is_file()
    assert "Validate" in readme and "make lab" in readme
    links = re.findall(r"\]\(((?:release|docs)/[^)]+)\)", readme)
    assert len([link for link in links if link.endswith(".ipynb")]) == len(assignment_names())
    assert [link for link in links if not (tree / link).is_file()] == []


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    """Does publish refuse to write into a non-empty folder unless forced?"""
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CourseError, match="not empty"):
        publish(tmp_path, root=ROOT)
    with pytest.raises(CourseError, match="neither a git clone nor an earlier publish"):
        publish(tmp_path, root=ROOT, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_refuses_a_folder_inside_or_around_the_course(course_copy):
    """Does publish refuse a destination inside the course, or one that contains it?"""
    with pytest.raises(CourseError, match="inside the course"):
        publish(course_copy / "student", root=course_copy)
    with pytest.raises(CourseError, match="contains the course"):
        publish(course_copy.parent, root=course_copy, force=True)
    assert not (course_copy / "student").exists()


def test_refuses_a_repository_that_is_not_owner_slash_name(tmp_path):
    """Does publish refuse a --repo that cannot be a GitHub OWNER/NAME?"""
    with pytest.raises(CourseError, match="OWNER/NAME"):
        publish(tmp_path / "student", root=ROOT, repo="https://github.com/me/course")


def test_force_republishes_into_a_clone_keeping_git(tmp_path):
    """Does a forced publish into a clone replace stale files and keep .git?"""
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    (clone / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (clone / "release" / "99_removed").mkdir(parents=True)
    (clone / "release" / "99_removed" / "99_removed.ipynb").write_text("{}")
    written = publish(clone, root=ROOT, force=True)
    assert (clone / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (clone / "release" / "99_removed").exists()
    assert {p.name for p in clone.iterdir()} == EXPECTED_TOP_LEVEL | {".git"}
    assert written == [p for p in _files(clone) if ".git" not in p.relative_to(clone).parts]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _make_lab(tree: Path, port: int, scratch: Path) -> subprocess.Popen:
    """The tree's own `make lab`, with this environment standing in for the .venv it would
    create (installing needs the network): the stamp says "installed"."""
    stamp = scratch / "installed"
    stamp.touch()
    environment = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces"),
    }
    return subprocess.Popen(
        ["make", "--no-print-directory", "-C", tree, "lab", f"PORT={port}",
         f"BIN={Path(sys.executable).parent}", f"STAMP={stamp}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
        start_new_session=True,
    )  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    """Stop make, course.lab and JupyterLab (one process group), however far they got."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
def test_published_make_lab_serves_the_first_notebook(tree, tmp_path):
    """Does the tree's own `make lab` start JupyterLab on the tree, first notebook reachable?"""
    port = _free_port()
    lab = _make_lab(tree, port, tmp_path)
    try:
        url = None
        for line in lab.stdout:
            if "http://" in line:
                url = line.strip()
                break
        assert url, "make lab printed no address"
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/release/01_likelihood/")
        token = url.partition("token=")[2]
        contents = f"http://127.0.0.1:{port}/api/contents/release/01_likelihood/01_likelihood.ipynb"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as page:
                    status = page.status
                request = urllib.request.Request(
                    contents, headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(request, timeout=10) as notebook:
                    model = json.load(notebook)
                break
            except OSError:
                assert lab.poll() is None, "make lab exited before JupyterLab answered"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(1)
        assert status == 200
        assert model["type"] == "notebook" and model["content"]["cells"]
    finally:
        _stop(lab)


def test_published_make_lab_names_a_taken_port(tree, tmp_path):
    """Does the tree's `make lab` fail with one clear line when its port is taken?"""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lab = _make_lab(tree, taken.getsockname()[1], tmp_path)
        try:
            output, _ = lab.communicate(timeout=60)
        finally:
            _stop(lab)
    assert lab.returncode != 0
    assert "already in use" in output and "make lab PORT=" in output
