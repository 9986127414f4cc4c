"""The ``autograder`` command line: parses arguments and forwards to one module per command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.course import CourseError


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
        help="the course root (default: found from the working directory)",
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
        default=os.cpu_count() or 1,
        metavar="N",
        help="notebooks graded at once (default: the number of cores)",
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
        "--fresh-kernels",
        action="store_true",
        help="start every kernel from scratch instead of forking it from a warm parent "
        "(slower; same scores)",
    )

    export = commands.add_parser("export", help="write grades/scores.csv and grades/tests.csv")
    export.add_argument("--out", type=Path, default=None, metavar="DIR")

    commands.add_parser("feedback", help="write per-student HTML feedback")

    report = commands.add_parser(
        "report", help="item analysis: which test cells the class missed, and how"
    )
    report.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for items.csv and report.html (default: grades/)",
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
    return parser


def _shown(path) -> str:
    """A path as the instructor would type it: relative to where they are, if inside."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _course_in_use() -> Path:
    """The course found from the working directory; outside any course, the one this
    package was installed from, said on stderr so nobody changes it unawares."""
    from autograder.course import find_root

    root = find_root()
    here = Path.cwd().resolve()
    if root != here and root not in here.parents:
        print(
            f"autograder: no course at or above {here}; using {root}, the course autograder "
            "is installed from (pass --root to choose another)",
            file=sys.stderr,
        )
    return root


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.root is None:
            arguments.root = _course_in_use()
        if arguments.command == "release":
            from autograder.release import release

            written = release(arguments.assignments or None, root=arguments.root)
            print(f"released {len(written)} notebook(s):")
            for path in written:
                print(f"  {_shown(path)}")
        elif arguments.command == "grade":
            from autograder.grade import grade
            from autograder.summary import summary

            if arguments.workers < 1:
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
            )
            if not outcomes:
                where = arguments.submissions or "submitted"
                print(
                    f"no submissions found in {where} (expected "
                    f"{where}/<student_id>/<assignment>/<assignment>.ipynb)"
                )
                for note in outcomes.notes:
                    print(note)
            else:
                print(summary(outcomes))
        elif arguments.command == "export":
            from autograder.export import export

            for path in export(root=arguments.root, out=arguments.out):
                print(f"wrote {_shown(path)}")
        elif arguments.command == "feedback":
            from autograder.feedback import feedback

            pages = feedback(root=arguments.root)
            print(f"wrote {len(pages)} feedback page(s) under feedback/")
        elif arguments.command == "report":
            from autograder.report import report, summary

            result = report(arguments.assignments or None, root=arguments.root, out=arguments.out)
            print(f"wrote {_shown(result.items_csv)}")
            print(f"wrote {_shown(result.html)}")
            print(summary(result))
        elif arguments.command == "publish":
            from autograder.publish import DEFAULT_REPO, binder_url, publish

            repo = arguments.repo or DEFAULT_REPO
            written = publish(arguments.dest, root=arguments.root, repo=repo, force=arguments.force)
            print(f"published {len(written)} file(s) to {arguments.dest.resolve()}")
            print(f"Binder: {binder_url(repo)}")
            if arguments.repo is None:
                print("  (a placeholder: pass --repo OWNER/NAME, the repository you will push to)")
    except CourseError as error:
        print(f"autograder: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted; rerun to finish (finished work is kept)", file=sys.stderr)
        return 130
    return 0
