"""Grading and execution benchmarks (``make bench``); results go to docs/benchmarks.md.

Everything is measured side by side in one run on the same machine:

1. **Throughput**: the same class (``--students`` students x every assignment, each
   submission the reference solution) graded by plain ``nbgrader autograde``, one
   assignment after another, and by ``autograder grade --workers 2``.
2. **Per-notebook overhead**: for each assignment, the grader's wall time for one
   notebook (one worker) against the floor: a bare kernel start plus executing the same
   notebook with nbclient alone, no sandbox.
3. **Course execution**: each source notebook executed top to bottom with nbclient.

Not part of ``make test``: it takes several minutes and its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder.course import assignments  # noqa: E402
from autograder.grade import grade  # noqa: E402
from tests.submissions import solved, write_submission  # noqa: E402

BIN = Path(sys.executable).parent


def make_course(base: Path, names: list[str], students: int) -> Path:
    root = base / "course"
    for folder in ("source", "release"):
        shutil.copytree(ROOT / folder, root / folder)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for name in names:
        notebook = solved(name)
        for index in range(students):
            write_submission(root / "submitted", f"student{index:03d}", name, notebook)
    return root


def environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def time_plain_nbgrader(root: Path, names: list[str]) -> float:
    for name in names:  # set-up, not timed: the gradebook's assignment records
        subprocess.run(
            [BIN / "nbgrader", "generate_assignment", name, "--force"],
            cwd=root,
            check=True,
            capture_output=True,
            env=environment(),
        )
    started = time.perf_counter()
    for name in names:
        subprocess.run(
            [BIN / "nbgrader", "autograde", name],
            cwd=root,
            check=True,
            capture_output=True,
            env=environment(),
        )
    return time.perf_counter() - started


def time_autograder(root: Path, workers: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [BIN / "autograder", "grade", "--workers", str(workers)],
        cwd=root,
        check=True,
        capture_output=True,
        env=environment(),
    )
    return time.perf_counter() - started


def execute_seconds(path: Path, notebook=None) -> float:
    notebook = notebook or nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return time.perf_counter() - started


def floor_and_grader(base: Path, name: str, repeats: int) -> tuple[float, float]:
    """Median seconds for one notebook: nbclient alone, and the grader with one worker."""
    floors, graded = [], []
    notebook = solved(name)
    for attempt in range(repeats):
        path = base / f"floor-{name}-{attempt}" / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        floors.append(execute_seconds(path, nbformat.from_dict(notebook)))
        root = make_course(base / f"one-{name}-{attempt}", [name], 1)
        outcome = grade([name], root=root, workers=1, force=True)[0]
        assert outcome.status == "graded", outcome
        graded.append(outcome.seconds)
    return statistics.median(floors), statistics.median(graded)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    import nbgrader
    import numpy
    import scipy

    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, nbgrader "
        f"{nbgrader.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    arguments = parser.parse_args(argv)
    names = assignments(ROOT)
    lines = [
        "# Benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench` "
        f"(`tests/benchmarks/grading.py`) on: {machine()}.",
        "",
    ]

    print("course execution ...", flush=True)
    course = {n: execute_seconds(ROOT / "source" / n / f"{n}.ipynb") for n in names}
    lines += [
        "## Course execution (source notebooks, nbclient, kernel start included)",
        "",
        "| notebook | seconds | target |",
        "|---|---:|---|",
    ]
    lines += [f"| `{n}` | {s:.1f} | < 15 s {'✓' if s < 15 else '✗'} |" for n, s in course.items()]
    total = sum(course.values())
    lines += [f"| **whole course** | **{total:.1f}** | < 60 s {'✓' if total < 60 else '✗'} |", ""]

    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        base = Path(scratch)
        print("per-notebook floor ...", flush=True)
        overhead = {n: floor_and_grader(base, n, arguments.repeats) for n in names}
        lines += [
            "## One notebook: grader against the floor",
            "",
            "Floor: bare kernel start plus executing the solved notebook with nbclient, "
            "no sandbox. Grader: `autograder grade --workers 1` wall time for the same "
            "notebook (sandbox, integrity tripwire, nbgrader pre- and post-processing). "
            f"Medians of {arguments.repeats}.",
            "",
            "| notebook | floor s | grader s | ratio (target ≤ 1.3) |",
            "|---|---:|---:|---:|",
        ]
        for n, (floor, graded) in overhead.items():
            lines.append(f"| `{n}` | {floor:.2f} | {graded:.2f} | {graded / floor:.2f} |")
        lines.append("")

        count = arguments.students * len(names)
        print(f"plain nbgrader on {count} notebooks ...", flush=True)
        plain = time_plain_nbgrader(make_course(base / "plain", names, arguments.students), names)
        print(f"autograder --workers 2 on {count} notebooks ...", flush=True)
        ours = time_autograder(make_course(base / "ours", names, arguments.students), 2)
        lines += [
            "## Throughput: a whole class",
            "",
            f"{arguments.students} students × {len(names)} assignments = {count} notebooks, "
            "every one the reference solution.",
            "",
            "| grader | seconds | notebooks / minute |",
            "|---|---:|---:|",
            f"| `nbgrader autograde`, one assignment after another | {plain:.0f} | "
            f"{60 * count / plain:.1f} |",
            f"| `autograder grade --workers 2` | {ours:.0f} | {60 * count / ours:.1f} |",
            "",
            f"**Throughput ratio: {plain / ours:.2f}×** (target ≥ 2.0× on 2 cores).",
            "",
        ]
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
