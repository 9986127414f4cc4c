"""Do the course's scores reach the LMS, and does late work carry its penalty everywhere?

One class is graded once by the real pipeline (a real gradebook, nbgrader's own
late-submission plugin configured the way nbgrader documents it), then the gradebook
files Canvas and Moodle export are written here with the quirks those systems really
produce (Canvas: a BOM, the "Points Possible" row, sections, ``Last, First`` names in
quotes, the test student, read-only total columns, an assignment that already exists in
``Name (id)`` form; Moodle: ``Assignment: name (Real)`` columns, ``-`` for no grade,
email addresses as the only id, Windows line endings) and filled by
``autograder export --lms``.

The class: ada hands in both assignments on time; ben hands in 01 late (two started days
after the due date: 2 points off) and 02 on time; cai's timestamp.txt is not a date;
dee handed in 01 and then dropped the course (she is in no LMS file); eve hands in 02
only, and the LMS knows her by her email address. The LMS files also hold students who
never handed anything in, one who dropped, and Canvas's test student.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.export import export, score_rows
from autograder.feedback import feedback
from autograder.grade import grade
from autograder.lms import TOTAL, export_lms
from autograder.summary import summary
from tests.conftest import ROOT
from tests.submissions import solved, write_submission

ONE, TWO = "01_likelihood", "02_log_likelihood"
DUE = "2026-12-15 23:59 Europe/Berlin"  # 22:59 UTC
POLICY = '''"""The course's late policy: one point per started day late (nbgrader's plugin API)."""

import math

from nbgrader.plugins import BasePlugin


class OnePointPerDay(BasePlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return float(math.ceil(total_seconds_late / 86400))
'''
STAMPS = {  # (student, assignment): timestamp.txt
    ("ada", ONE): "2026-12-15 21:30:00.000000 UTC",
    ("ben", ONE): "2026-12-17 01:30:00.000000 UTC",  # 26 h 31 min late: two started days
    ("cai", ONE): "the night before it was due",
    ("dee", ONE): "2026-12-14 10:00:00.000000 UTC",
}
SUBMISSIONS = {"ada": (ONE, TWO), "ben": (ONE, TWO), "cai": (ONE,), "dee": (ONE,), "eve": (TWO,)}


def run(root: Path, *arguments):
    return subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), *arguments],
        cwd=root.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class above, graded: 01 with a due date given on the command line's way."""
    root = tmp_path_factory.mktemp("lms") / "course"
    for name in ("source", "release"):
        for assignment in (ONE, TWO):
            shutil.copytree(ROOT / name / assignment, root / name / assignment)
    (root / "late_policy.py").write_text(POLICY)
    (root / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text()
        + '\nc.AssignLatePenalties.plugin_class = "late_policy.OnePointPerDay"\n'
    )
    for student, handed_in in SUBMISSIONS.items():
        for assignment in handed_in:
            write_submission(root / "submitted", student, assignment, solved(assignment))
            stamp = STAMPS.get((student, assignment))
            if stamp is not None:
                (root / "submitted" / student / assignment / "timestamp.txt").write_text(stamp)
    first = grade([ONE], root=root, workers=2, due=DUE)
    second = grade([TWO], root=root, workers=2)
    scores = {(r["student_id"], r["assignment"]): r for r in score_rows(root)}
    return root, first, second, scores


def points(scores, student, assignment) -> float:
    return float(scores[(student, assignment)]["score"])


def text(number: float) -> str:
    return f"{number:g}"


# Canvas: Grades → Export → Export Entire Gradebook. UTF-8 with a BOM, the points row
# second, read-only totals, "Last, First" names and multi-section students in quotes.
# 01_likelihood already exists in Canvas (Name (id) form); Pat Quill has a hand-entered
# 7.00 there and handed nothing in here; Fay Former dropped (Canvas still lists her);
# the test student has no SIS ids. Dee dropped too, after handing in 01: she is missing.
CANVAS = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,01_likelihood (4501),Quiz 0 (4499),"
    "Current Points,Final Points,Current Score,Unposted Current Score,Final Score,"
    "Unposted Final Score\n"
    "    Points Possible,,,,,10.00,5.00,(read only),(read only),(read only),(read only),"
    "(read only),(read only)\n"
    '"Lovelace, Ada",2101,S2101,ada,"Section A, Monday 9:00",,4.00,4.00,4.00,80.00,80.00,'
    "26.67,26.67\n"
    '"Franklin, Ben",2102,S2102,BEN,Section B,,3.00,3.00,3.00,60.00,60.00,20.00,20.00\n'
    '"Quill, Pat",2103,S2103,pquill,"Section A, Monday 9:00 and Section B",7.00,,7.00,7.00,'
    "70.00,70.00,46.67,46.67\n"
    '"Nguyen, Eve",2104,S2104,eve@uni.example,Section B,,5.00,5.00,5.00,100.00,100.00,'
    "33.33,33.33\n"
    '"Cai, Ming",2105,S2105,cai,"Section A, Monday 9:00",,,0.00,0.00,,,0.00,0.00\n'
    '"Former, Fay",2106,S2106,ffay,Section B,,2.00,2.00,2.00,40.00,40.00,13.33,13.33\n'
    '"Student, Test",2199,,,"Section A, Monday 9:00",,,0.00,0.00,,,0.00,0.00\n'
)


def test_a_canvas_export_comes_back_filled(graded, tmp_path):
    """Does a Canvas gradebook come back with every student's scores in the right row, the
    existing assignment filled in place, new columns with their points possible, and every
    byte Canvas wrote kept?"""
    root, _, _, scores = graded
    path = tmp_path / "2026-12-20T1200_Grades-NLL.csv"
    path.write_bytes(CANVAS.encode("utf-8"))
    result = export_lms(path, root=root)

    assert result.out == tmp_path / "2026-12-20T1200_Grades-NLL-with-scores.csv"
    assert path.read_bytes() == CANVAS.encode("utf-8")  # the input is never written
    assert (result.column, result.detected, result.matched) == ("SIS Login ID", True, 4)
    ben_one = text(points(scores, "ben", ONE))
    assert ben_one == "6"  # 8 before the late penalty
    # What Canvas wrote, untouched; 01 filled in place; 02 and the total appended.
    expected = (
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,01_likelihood (4501),Quiz 0 (4499),"
        "Current Points,Final Points,Current Score,Unposted Current Score,Final Score,"
        f"Unposted Final Score,{TWO},{TOTAL}\n"
        "    Points Possible,,,,,10.00,5.00,(read only),(read only),(read only),(read only),"
        "(read only),(read only),20,30\n"
        '"Lovelace, Ada",2101,S2101,ada,"Section A, Monday 9:00",8,4.00,4.00,4.00,80.00,'
        "80.00,26.67,26.67,18,26\n"
        f'"Franklin, Ben",2102,S2102,BEN,Section B,{ben_one},3.00,3.00,3.00,60.00,60.00,'
        "20.00,20.00,18,24\n"
        '"Quill, Pat",2103,S2103,pquill,"Section A, Monday 9:00 and Section B",7.00,,7.00,'
        "7.00,70.00,70.00,46.67,46.67,,\n"
        '"Nguyen, Eve",2104,S2104,eve@uni.example,Section B,,5.00,5.00,5.00,100.00,100.00,'
        "33.33,33.33,18,18\n"
        '"Cai, Ming",2105,S2105,cai,"Section A, Monday 9:00",8,,0.00,0.00,,,0.00,0.00,,8\n'
        '"Former, Fay",2106,S2106,ffay,Section B,,2.00,2.00,2.00,40.00,40.00,13.33,13.33,,\n'
        '"Student, Test",2199,,,"Section A, Monday 9:00",,,0.00,0.00,,,0.00,0.00,,\n'
    )
    assert result.out.read_bytes() == expected.encode("utf-8")
    # Every student accounted for, one line each: here, or in the report.
    problems = result.problems
    for line in (
        "no SIS Login ID: line 9 (Student, Test): left as it was",
        "kept: Quill, Pat (pquill) has 7.00 for 01_likelihood in "
        "2026-12-20T1200_Grades-NLL.csv, and no submission here",
        "no submission at all: Quill, Pat (pquill): left empty",
        "no submission of 01_likelihood: Nguyen, Eve (eve@uni.example): left empty",
        f"no submission of {TWO}: Cai, Ming (cai): left empty",
        "no submission at all: Former, Fay (ffay): left empty",
        "late: ben 01_likelihood: 2 point(s) off by the late penalty (8 → 6 of 10)",
    ):
        assert line in problems, (line, problems)
    (dee,) = [line for line in problems if "dee" in line]
    assert dee.startswith("not in 2026-12-20T1200_Grades-NLL.csv: dee (01_likelihood 8/10)")
    assert not any("ada" in line for line in problems if not line.startswith("not final"))


def test_the_round_trip_fills_canvas_own_columns_and_leaves_the_rest(graded, tmp_path):
    """After the import, Canvas exports the new columns in its ``Name (id)`` form with the
    scores it took: does a second export fill them in place and change no byte where the
    scores are the same (Canvas writes 18.00 where the course says 18)?"""
    root, _, _, _ = graded
    first = tmp_path / "first.csv"
    first.write_bytes(CANVAS.encode("utf-8"))
    filled = export_lms(first, root=root).out.read_text(encoding="utf-8-sig")
    # What Canvas gives back: its ids on the new columns, its number format.
    again = filled.replace(f",{TWO},{TOTAL}\n", f",{TWO} (4502),{TOTAL} (4503)\n", 1)
    again = again.replace(",18,26\n", ",18.00,26.00\n").replace(",20,30\n", ",20.00,30.00\n")
    second = tmp_path / "second.csv"
    second.write_bytes(b"\xef\xbb\xbf" + again.encode("utf-8"))
    result = export_lms(second, root=root, out=tmp_path / "second-filled.csv")
    assert result.filled == [
        "01_likelihood (into '01_likelihood (4501)')",
        f"{TWO} (into '{TWO} (4502)')",
        f"{TOTAL} (into '{TOTAL} (4503)')",
    ]
    assert result.out.read_bytes() == second.read_bytes()  # nothing new to say


def test_missing_zero_gives_zero_only_where_the_lms_has_no_grade(graded, tmp_path):
    """With --missing-zero, does a student with no submission get 0, while a grade the
    instructor typed into the LMS stays?"""
    root, _, _, _ = graded
    path = tmp_path / "canvas.csv"
    path.write_bytes(CANVAS.encode("utf-8"))
    result = export_lms(path, root=root, missing_zero=True)
    rows = {r[3]: r for r in csv.reader(io.StringIO(result.out.read_text("utf-8-sig")))}
    assert rows["pquill"][5] == "7.00" and rows["pquill"][-2:] == ["0", "0"]
    assert rows["eve@uni.example"][5] == "0" and rows["eve@uni.example"][-2:] == ["18", "18"]
    assert rows[""][-2:] == ["", ""]  # the test student is nobody's: left as it was
    assert "no submission at all: Former, Fay (ffay): set to 0" in result.problems


# Moodle: Grades → Export → Plain text file (comma, UTF-8). The user fields Moodle exports
# by default (no username), "Assignment: name (Real)" columns, "-" for no grade, the
# "Last downloaded" stamp. Here with Windows line endings, as after a pass through Excel.
# Ben has two accounts (his email at the university and as an alumnus): ambiguous.
MOODLE = (
    "First name,Last name,ID number,Institution,Department,Email address,"
    f"Assignment: {TWO} (Real),Assignment: Essay 1 (Real),Course total (Real),"
    "Last downloaded from this course\r\n"
    'Ada,Lovelace,S2101,"University of Nowhere, Faculty of Science",Mathematics,'
    "ada@uni.example,-,12.00,12.00,1766224800\r\n"
    'Ben,Franklin,S2102,"University of Nowhere, Faculty of Science",Physics,'
    "ben@uni.example,-,-,-,1766224800\r\n"
    'Ben,Franklin,,"University of Nowhere, Alumni",,ben@alumni.uni.example,-,-,-,'
    "1766224800\r\n"
    'María José,"García Márquez, Jr.",S2107,"University of Nowhere, Faculty of Science",'
    "Mathematics,mjgarcia@uni.example,-,9.50,9.50,1766224800\r\n"
    "Ming,Cai,S2105,University of Nowhere,Physics,cai@uni.example,-,-,-,1766224800\r\n"
    "Eve,Nguyen,S2104,University of Nowhere,Physics,eve@uni.example,-,-,-,1766224800\r\n"
    "Fay,Former,S2106,University of Nowhere,Physics,ffay@uni.example,-,-,-,1766224800\r\n"
)


def test_a_moodle_export_comes_back_filled(graded, tmp_path):
    """Does a Moodle export (ids only in the email column, an assignment already there as
    ``Assignment: name (Real)``, ``-`` for no grade, CRLF) come back filled, with the
    ambiguous student refused rather than guessed?"""
    root, _, _, _ = graded
    path = tmp_path / "NLL Grades.csv"
    path.write_bytes(MOODLE.encode("utf-8"))
    result = export_lms(path, root=root)
    assert (result.column, result.detected, result.matched) == ("Email address", True, 3)
    expected = (
        "First name,Last name,ID number,Institution,Department,Email address,"
        f"Assignment: {TWO} (Real),Assignment: Essay 1 (Real),Course total (Real),"
        f"Last downloaded from this course,{ONE},{TOTAL}\r\n"
        'Ada,Lovelace,S2101,"University of Nowhere, Faculty of Science",Mathematics,'
        "ada@uni.example,18,12.00,12.00,1766224800,8,26\r\n"
        'Ben,Franklin,S2102,"University of Nowhere, Faculty of Science",Physics,'
        "ben@uni.example,-,-,-,1766224800,,\r\n"
        'Ben,Franklin,,"University of Nowhere, Alumni",,ben@alumni.uni.example,-,-,-,'
        "1766224800,,\r\n"
        'María José,"García Márquez, Jr.",S2107,"University of Nowhere, Faculty of Science",'
        "Mathematics,mjgarcia@uni.example,-,9.50,9.50,1766224800,,\r\n"
        "Ming,Cai,S2105,University of Nowhere,Physics,cai@uni.example,-,-,-,1766224800,8,8\r\n"
        "Eve,Nguyen,S2104,University of Nowhere,Physics,eve@uni.example,18,-,-,1766224800,,18\r\n"
        "Fay,Former,S2106,University of Nowhere,Physics,ffay@uni.example,-,-,-,1766224800,,\r\n"
    )
    assert result.out.read_bytes() == expected.encode("utf-8")
    problems = result.problems
    for line in (
        "ambiguous: ben matches 2 rows of 'Email address' (lines 3, 4): refused, those rows "
        "left as they were",
        "no submission at all: María José García Márquez, Jr. (mjgarcia@uni.example): left empty",
        f"no submission of {TWO}: Ming Cai (cai@uni.example): left empty",
        "no submission of 01_likelihood: Eve Nguyen (eve@uni.example): left empty",
        "no submission at all: Fay Former (ffay@uni.example): left empty",
    ):
        assert line in problems, (line, problems)
    assert [line for line in problems if line.startswith("not in")] == [
        "not in NLL Grades.csv: dee (01_likelihood 8/10): not written; add the student to "
        "the LMS (or check --match), export the gradebook again and rerun"
    ]
    assert not any(line.startswith("late: ben") for line in problems)  # refused: not here


def test_a_localized_moodle_export_keeps_its_encoding_and_delimiter(graded, tmp_path):
    """Does a Moodle export in German (semicolons, Windows-1252, headers in German, so the
    id column is named with --match) keep its bytes, encoding and delimiter?"""
    root, _, _, _ = graded
    german = (
        "Vorname;Nachname;ID-Nummer;E-Mail-Adresse;Kurs gesamt (Real)\r\n"
        "Jürgen;Müller;S2201;ada@uni.example;12,50\r\n"
        "Zoë;Weiß;S2202;ben@uni.example;-\r\n"
    )
    path = tmp_path / "Bewertungen.csv"
    path.write_bytes(german.encode("cp1252"))
    result = export_lms(path, root=root, match="e-mail-adresse")
    assert (result.column, result.detected) == ("E-Mail-Adresse", False)
    written = result.out.read_bytes().decode("cp1252")
    assert written == (
        f"Vorname;Nachname;ID-Nummer;E-Mail-Adresse;Kurs gesamt (Real);{ONE};{TWO};{TOTAL}\r\n"
        "Jürgen;Müller;S2201;ada@uni.example;12,50;8;18;26\r\n"
        "Zoë;Weiß;S2202;ben@uni.example;-;6;18;24\r\n"
    )


def test_late_work_carries_its_penalty_everywhere(graded, tmp_path):
    """Does ben's late 01 show its penalty in the run's summary, scores.csv, his feedback
    page and the LMS file, while ada's on-time work loses nothing?"""
    root, first, _, _ = graded
    table = summary(first)
    (row,) = [line for line in table.splitlines() if line.startswith("ben ")]
    assert "late by 1 d 2 h (due 2026-12-15 22:59 UTC): 2 point(s) off" in row
    assert "1 submission(s) late: 2 point(s) taken off" in table
    assert "due date of 01_likelihood: 2026-12-15 22:59 UTC" in table

    scores_csv, _ = export(root=root, out=tmp_path / "grades")
    rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(scores_csv.open())}
    ben, ada = rows[("ben", ONE)], rows[("ada", ONE)]
    assert (ben["raw_score"], ben["late_penalty"], ben["score"]) == ("8.0", "2.0", "6.0")
    assert ben["timestamp"] == "2026-12-17T01:30:00"
    assert (ada["late_penalty"], ada["score"]) == ("0.0", "8.0")

    pages = feedback([ONE], root=root, out=tmp_path / "feedback")
    (page,) = [p for p in pages if "ben" in p.parts]
    html = page.read_text()
    assert "Score: 6 / 10 (8 before the late penalty of 2)" in html
    assert (
        "Handed in 2026-12-17 01:30 UTC, 1 d 2 h after the due date (2026-12-15 22:59 UTC): "
        "late penalty: 2 point(s) taken off this notebook's score." in html
    )
    (page,) = [p for p in pages if "ada" in p.parts]
    assert "class='late'" not in page.read_text() and "late penalty" not in page.read_text()

    lms = tmp_path / "canvas.csv"
    lms.write_bytes(CANVAS.encode("utf-8"))
    rows = list(csv.reader(io.StringIO(export_lms(lms, root=root).out.read_text("utf-8-sig"))))
    (ben_row,) = [r for r in rows if r[3] == "BEN"]
    assert ben_row[5] == "6" and ben_row[-1] == "24"


def test_an_unreadable_timestamp_is_reported_and_the_run_goes_on(graded):
    """Does cai's timestamp.txt that is no date get a line of its own in the summary, her
    work graded (as on time), and everybody else's too?"""
    _, first, _, scores = graded
    outcomes = {o.student: o for o in first}
    assert {o.status for o in first} == {"graded"}
    assert outcomes["cai"].late == (
        "timestamp.txt says 'the night before it was due', not a date and time nbgrader "
        "reads: graded as on time"
    )
    assert points(scores, "cai", ONE) == 8.0
    assert "1 timestamp.txt file(s) could not be read" in summary(first)
    assert first.complete


def test_a_new_due_date_reworks_the_penalty_without_running_notebooks(graded, tmp_path):
    """Does a later due date, given after grading, lift ben's penalty at the next run,
    with his notebook skipped as unchanged, and an earlier one bring it back?"""
    root = tmp_path / "course"
    shutil.copytree(graded[0], root)
    later = grade([ONE], root=root, workers=1, due="2026-12-17 12:00 UTC")
    ben = next(o for o in later if o.student == "ben")
    assert (ben.status, ben.late_penalty, ben.late) == ("unchanged", 0.0, "")
    assert float(next(r for r in score_rows(root) if r["student_id"] == "ben")["score"]) == 8.0
    again = grade([ONE], root=root, workers=1, due=DUE)
    ben = next(o for o in again if o.student == "ben")
    assert (ben.status, ben.late_penalty) == ("unchanged", 2.0)
    assert "2 point(s) off" in ben.late
    # nbgrader's due date stays in the gradebook for runs without --due.
    plain = grade([ONE], root=root, workers=1)
    assert next(o for o in plain if o.student == "ben").late_penalty == 2.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("export", "--lms", "nowhere.csv"), "no such file: nowhere.csv"),
        (("export", "--lms", "book.xlsx"), "is a spreadsheet workbook (.xlsx or .ods), not CSV"),
        (("export", "--lms", "plain.csv"), "has none of the columns that usually hold"),
        (("export", "--lms", "canvas.csv", "--match", "SIS Logn ID"), "did you mean SIS Login ID?"),
        (("export", "--lms", "canvas.csv", "--out", "canvas.csv"), "is the LMS file itself"),
        (("export", "--lms", "canvas.csv", "--match", "ID"), "is in the column 'ID' of canvas"),
        (("export", "--lms", "canvas.csv", "--student", "ada"), "leave out --student"),
        (("export", "--lms", "cut.csv"), "a quoted cell never ends"),
        (("export", "--match", "ID"), "--match and --missing-zero go with --lms FILE"),
        (("grade", "--due", DUE), "--due sets the due date of the assignments named"),
        (("grade", ONE, "--due", "2026-12-15 23:59"), "has no time zone"),
        (("grade", ONE, "--due", "2026-12-15 23:59 Europe/Berln"), "no such time zone"),
        (("grade", ONE, "--due", "next Friday UTC"), "is not a date and time"),
    ],
)
def test_bad_lms_and_due_input_gets_one_line_and_status_2(graded, tmp_path, arguments, message):
    """Does each unusable file or date stop with one line naming the problem, status 2,
    and no traceback?"""
    root = graded[0]
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (tmp_path / "plain.csv").write_text("name,points\nada,3\n")
    (tmp_path / "canvas.csv").write_bytes(CANVAS.encode("utf-8"))
    (tmp_path / "cut.csv").write_text('Student,SIS Login ID\n"Lovelace, Ada,ada\n')
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(root), *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert (tmp_path / "canvas.csv").read_bytes() == CANVAS.encode("utf-8")


def test_the_command_says_which_column_it_matched_on(graded, tmp_path):
    """Does ``autograder export --lms`` name the file it wrote, the id column it found and
    each problem on a line of its own?"""
    (tmp_path / "canvas.csv").write_bytes(CANVAS.encode("utf-8"))
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(graded[0]), "export", "--lms",
         "canvas.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "wrote canvas-with-scores.csv"
    assert lines[1] == (
        "students matched on the column 'SIS Login ID' (detected): 4 of the 5 student(s) "
        "with a submission"
    )
    assert "  late: ben 01_likelihood: 2 point(s) off by the late penalty (8 → 6 of 10)" in lines
