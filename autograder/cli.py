"""The ``autograder`` command line: parses arguments and forwards to one module per command.

Exit status: 0 when the command did its work (students may have lost points); 2 when the
instructor's own input is unusable (one line on stderr says why); 3 when ``grade`` ran
but left something ungraded: a submission that failed (a notebook that is not JSON, a
kernel that died) or an entry of the submissions folder that is no submission (a
misnamed folder). Scripts can tell "all graded" from "look at the summary". A run
stopped by a signal exits as a shell reports it, 128 + the signal's number: 130 for
Ctrl+C (SIGINT), 143 for SIGTERM; ``grade`` prints the summary of what it graded first.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from autograder.course import CourseError

#: ``grade`` ran, but some submissions failed or some entries of submitted/ were left out.
EXIT_INCOMPLETE = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Instructor tooling for the course: release, grade, export, feedback, "
        "report, publish.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the course root (default: the nearest folder at or above the working "
        "directory with nbgrader_config.py and source/)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    release = commands.add_parser("release", help="regenerate release/ from source/")
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")

    grade = commands.add_parser("grade", help="autograde every submission, sandboxed, in parallel")
    grade.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    grade.add_argument(
        "--submissions",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of <student_id>/<assignment>/*.ipynb (default: submitted/)",
    )
    grade.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="notebooks graded at once (default: one more than the number of cores)",
    )
    grade.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds allowed per cell (default from nbgrader_config.py)",
    )
    grade.add_argument(
        "--force", action="store_true", help="regrade submissions even when they have not changed"
    )
    grade.add_argument(
        "--rebuild",
        action="store_true",
        help="remake the named assignments' gradebook records from source/ and regrade "
        "them (after adding or removing graded cells); hand grades and comments on cells "
        "that still exist are kept",
    )
    grade.add_argument(
        "--due",
        default=None,
        metavar="DATE",
        help='due date of the assignments named, with its time zone ("2026-12-15 23:59 '
        "Europe/Berlin\"): kept in the gradebook as nbgrader's duedate; each "
        "submission's timestamp.txt against it gives nbgrader's late penalty",
    )
    grade.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="grade on the workers of this Dask cluster (its scheduler: tcp://host:8786 "
        "or tls://...; see docs/scaling.md) instead of on this machine",
    )
    grade.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="the gradebook's database (default: CourseDirectory.db_url in "
        "nbgrader_config.py, else gradebook.db): sqlite:///path or "
        "postgresql+psycopg://user@host/database",
    )
    grade.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="start every kernel from scratch instead of forking it from a warm parent "
        "(slower; same scores)",
    )

    export = commands.add_parser(
        "export",
        help="write grades/scores.csv (every student) and grades/tests.csv, or (--lms) fill "
        "the gradebook CSV an LMS exported",
    )
    _narrowing(export)
    export.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for scores.csv and tests.csv (default: grades/); with --lms, the file "
        "to write (default: beside the LMS file, named *-with-scores.csv)",
    )
    export.add_argument(
        "--lms",
        type=Path,
        default=None,
        metavar="FILE",
        help="the gradebook CSV exported from Canvas, Moodle or another LMS: write a copy "
        "with the course's scores filled in, ready to import back",
    )
    export.add_argument(
        "--match",
        default=None,
        metavar="COLUMN",
        help="with --lms: the LMS column holding the course's student ids (default: "
        "detected among SIS Login ID, SIS User ID, ID, ID number, Username, email)",
    )
    export.add_argument(
        "--missing-zero",
        action="store_true",
        help="with --lms: 0 for an LMS student with no submission (default: left empty)",
    )

    feedback = commands.add_parser(
        "feedback", help="write per-student HTML feedback under feedback/ (nbgrader's layout)"
    )
    _narrowing(feedback)

    report = commands.add_parser(
        "report", help="item analysis: which test cells the class missed, and how"
    )
    _narrowing(report)
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for items.csv and report.html (default: grades/, with the files "
        "named after the assignments and students asked for, if not all)",
    )

    publish = commands.add_parser(
        "publish", help="write the student-only course, ready to push as a public repository"
    )
    publish.add_argument("dest", type=Path, metavar="DEST")
    publish.add_argument(
        "--repo",
        default=None,
        metavar="OWNER/NAME",
        help="the student repository on GitHub, for the README's Binder badge",
    )
    publish.add_argument(
        "--force",
        action="store_true",
        help="replace the contents of DEST (a clone or an earlier publish); .git is kept",
    )
    which = publish.add_mutually_exclusive_group()
    which.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="ASSIGNMENT",
        help="publish these assignments (default: those listed in released.txt)",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="publish every assignment of source/ (when the course has no released.txt)",
    )
    return parser


def _narrowing(command) -> None:
    command.add_argument(
        "assignments", nargs="*", metavar="ASSIGNMENT", help="only these (default: all)"
    )
    command.add_argument(
        "--student",
        dest="students",
        action="extend",
        nargs="+",
        default=None,
        metavar="ID",
        help="only these students (default: everybody)",
    )


def _shown(path) -> str:
    """A path as the instructor would type it: relative to where they are, if inside."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.root is None:
            from autograder.course import find_root

            arguments.root = find_root()
        return _run(arguments)
    except CourseError as error:
        print(f"autograder: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted; rerun to finish (finished work is kept)", file=sys.stderr)
        return 128 + signal.SIGINT


def _run(arguments) -> int:
    if arguments.command == "release":
        from autograder.release import release

        written = release(arguments.assignments or None, root=arguments.root)
        print(f"released {len(written)} notebook(s):")
        for path in written:
            print(f"  {_shown(path)}")
    elif arguments.command == "grade":
        from autograder.grade import grade
        from autograder.summary import summary

        if arguments.workers is not None and arguments.workers < 1:
            raise CourseError(f"--workers must be at least 1, got {arguments.workers}")
        outcomes = grade(
            arguments.assignments or None,
            root=arguments.root,
            submissions=arguments.submissions,
            workers=arguments.workers,
            timeout=arguments.timeout,
            force=arguments.force,
            progress=True,
            warm=not arguments.fresh_kernels,
            rebuild=arguments.rebuild,
            due=arguments.due,
            db_url=arguments.db,
            cluster=arguments.cluster,
        )
        if not outcomes and not outcomes.interrupted:
            where = arguments.submissions or "submitted"
            print(
                f"no submissions found in {where} (expected "
                f"{where}/<student_id>/<assignment>/<assignment>.ipynb)"
            )
            for note in outcomes.notes:
                print(note)
        else:
            print(summary(outcomes))
        if outcomes.interrupted:
            return 128 + outcomes.interrupted
        return 0 if outcomes.complete else EXIT_INCOMPLETE
    elif arguments.command == "export" and arguments.lms is not None:
        from autograder.lms import export_lms

        if arguments.students:
            raise CourseError("--lms fills the LMS file's whole class: leave out --student")
        result = export_lms(
            arguments.lms,
            arguments.assignments or None,
            root=arguments.root,
            match=arguments.match,
            out=arguments.out,
            missing_zero=arguments.missing_zero,
        )
        print(f"wrote {_shown(result.out)}")
        how = "given" if not result.detected else "detected"
        print(
            f"students matched on the column {result.column!r} ({how}): {result.matched} of "
            f"the {result.submitters} student(s) with a submission"
        )
        print(f"filled: {'; '.join(result.filled)}")
        if result.problems:
            print(f"{len(result.problems)} thing(s) to check, one a line:")
            for line in result.problems:
                print(f"  {line}")
    elif arguments.command == "export":
        from autograder.export import export

        if arguments.match is not None or arguments.missing_zero:
            raise CourseError("--match and --missing-zero go with --lms FILE")

        written = export(
            arguments.assignments or None,
            students=arguments.students,
            root=arguments.root,
            out=arguments.out,
        )
        for path in written:
            print(f"wrote {_shown(path)}")
    elif arguments.command == "feedback":
        from autograder.feedback import feedback

        pages = feedback(
            arguments.assignments or None, students=arguments.students, root=arguments.root
        )
        print(
            f"wrote {len(pages)} feedback page(s) under "
            f"{_shown(arguments.root / 'feedback')}/<student>/<assignment>/ (nbgrader's "
            "layout: `nbgrader release_feedback` hands them out)"
        )
        if pages.replaced:
            print(
                f"replaced {len(pages.replaced)} page(s) that `nbgrader generate_feedback` "
                "had written: "
                + ", ".join(_shown(path) for path in pages.replaced[:5])
                + (", ..." if len(pages.replaced) > 5 else "")
            )
        for assignment, (answers, students) in pages.awaiting.items():
            print(
                f"warning: {assignment}: {answers} answer(s) of {students} student(s) not "
                "graded yet in formgrader; their pages say 'awaiting grading' (run "
                "feedback again once they are graded)",
                file=sys.stderr,
            )
    elif arguments.command == "report":
        from autograder.report import report, summary

        result = report(
            arguments.assignments or None,
            students=arguments.students,
            root=arguments.root,
            out=arguments.out,
        )
        print(f"wrote {_shown(result.items_csv)}")
        print(f"wrote {_shown(result.html)}")
        print(summary(result))
    elif arguments.command == "publish":
        from autograder.course import assignments, check_assignments
        from autograder.publish import (
            DEFAULT_REPO,
            RELEASED_FILE,
            binder_url,
            check_destination,
            first_notebook,
            previous_repo,
            publish,
            released,
        )

        dest = arguments.dest.expanduser().resolve()
        check_destination(dest, arguments.root.resolve(), arguments.force)
        if arguments.only:
            names = check_assignments(arguments.root, arguments.only)
        elif arguments.all:
            names = assignments(arguments.root)
        else:
            names = released(arguments.root)
            if names is None:
                raise CourseError(
                    f"publish which assignments? list the released ones in {RELEASED_FILE} "
                    "at the course root (one a line), or pass --only ASSIGNMENT ... "
                    "(--all publishes every assignment, drafts included)"
                )
        repo = arguments.repo or (previous_repo(dest) if dest.is_dir() else None)
        written = publish(dest, root=arguments.root, repo=repo, force=arguments.force, only=names)
        print(f"published {len(names)} assignment(s) ({', '.join(names)}):")
        print(f"  {len(written)} file(s) in {dest}")
        print(f"Binder: {binder_url(repo or DEFAULT_REPO, first_notebook(dest))}")
        if repo is None:
            print("  (a placeholder: pass --repo OWNER/NAME, the repository you will push to)")
        elif arguments.repo is None:
            print("  (the repository the earlier publish into DEST was given)")
    return 0
