"""Does the command line fail on bad instructor input with one clear line and status 2?"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*arguments, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "autograder", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("grade", "99_nope"), "no such assignment: 99_nope"),
        (
            ("grade", "--submissions", "/nonexistent/place"),
            "no submissions folder: /nonexistent/place does not exist",
        ),
        (("grade", "--workers", "0"), "--workers must be at least 1"),
        (("release", "99_nope"), "no such assignment: 99_nope"),
        (("publish", "release"), "is inside the course"),
    ],
)
def test_bad_input_gets_one_line_and_status_2(arguments, message):
    """Does each unusable instruction exit 2 with a single line naming the problem?"""
    result = run(*arguments)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_export_without_a_gradebook_says_so(tmp_path, course_copy):
    """Does export before any grading say there is no gradebook yet, instead of a traceback?"""
    result = run("--root", str(course_copy), "export")
    assert result.returncode == 2 and "no gradebook" in result.stderr


def test_a_folder_that_is_no_course_is_named(tmp_path):
    """Does pointing --root at a folder without a course say so in one line?"""
    result = run("--root", str(tmp_path), "release")
    assert result.returncode == 2 and "the course root" in result.stderr
    assert result.stderr.count("\n") == 1


def test_written_paths_are_shown_as_the_instructor_would_type_them(course_copy):
    """Does release name its files relative to where the instructor is (in full from
    outside), so a printed path can be pasted into the next command?"""
    inside = run("release", "01_likelihood", cwd=course_copy)
    assert inside.returncode == 0, inside.stderr
    assert "  release/01_likelihood/01_likelihood.ipynb\n" in inside.stdout
    above = run("--root", str(course_copy), "release", "01_likelihood", cwd=course_copy.parent)
    assert "  course/release/01_likelihood/01_likelihood.ipynb\n" in above.stdout
    elsewhere = run("--root", str(course_copy), "release", "01_likelihood", cwd=ROOT)
    expected = course_copy.resolve() / "release" / "01_likelihood" / "01_likelihood.ipynb"
    assert f"  {expected}\n" in elsewhere.stdout


def test_outside_any_course_the_command_refuses_and_names_root(tmp_path):
    """Run from a folder that is no course, does every command refuse in one line that
    names --root, rather than work on the course it happens to be installed from?"""
    for arguments in (("grade",), ("export",), ("publish", str(tmp_path / "out"), "--all")):
        result = run(*arguments, cwd=tmp_path)
        assert result.returncode == 2, (arguments, result.stderr)
        assert result.stderr.count("\n") == 1 and "--root" in result.stderr
        assert f"no nbgrader course (a folder with nbgrader_config.py and source/) at or " \
            f"above {tmp_path.resolve()}" in result.stderr  # fmt: skip
        assert not (tmp_path / "out").exists()


def test_a_misspelt_assignment_gets_the_closest_name():
    """Does a misspelt assignment name get "did you mean" with the course's closest one?"""
    result = run("grade", "03_minus_sgn")
    assert result.returncode == 2
    assert "no such assignment: 03_minus_sgn: did you mean 03_minus_sign?" in result.stderr


def test_publish_without_a_release_list_refuses(tmp_path):
    """Without released.txt, --only or --all, does publish refuse (a draft must never go
    out by accident), naming all three ways to say what is released?"""
    result = run("publish", str(tmp_path / "student"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "released.txt" in result.stderr and "--only" in result.stderr
    assert "--all" in result.stderr and not (tmp_path / "student").exists()
