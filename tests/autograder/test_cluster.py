"""Does `autograder grade --cluster` grade on a real Dask cluster exactly as on this machine?

The cluster is real (tests/services.py: `dask scheduler` and two `dask worker` processes
on 127.0.0.1), and so is the PostgreSQL server the cluster's runs record into.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import types

import pytest

from autograder.course import CourseError
from autograder.discover import LEDGER
from autograder.export import cell_rows, score_rows
from autograder.grade import grade
from tests.conftest import ROOT
from tests.submissions import corpus_submissions, set_answer, solved, write_submission

ASSIGNMENT = "01_likelihood"
pytestmark = pytest.mark.slow


def _course(base, name: str, db_url: str | None = None):
    root = base / name / "course"
    root.mkdir(parents=True)
    for folder in ("source", "release"):
        shutil.copytree(ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
    config = (ROOT / "nbgrader_config.py").read_text()
    if db_url:
        config += f"\nc.CourseDirectory.db_url = {db_url!r}\n"
    (root / "nbgrader_config.py").write_text(config)
    return root


def _cells(root):
    return {(r["student_id"], r["grade_id"]): r["score"] for r in cell_rows(root)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, dask_cluster, postgres):
    """The corpus class of 01_likelihood graded locally (SQLite) and on the cluster
    (PostgreSQL, its URL in nbgrader_config.py)."""
    base = tmp_path_factory.mktemp("cluster")
    local = _course(base, "local")
    students = corpus_submissions(ASSIGNMENT, local / "submitted")
    remote = _course(base, "remote", postgres.create_database("corpus"))
    shutil.copytree(local / "submitted", remote / "submitted")
    local_outcomes = grade([ASSIGNMENT], root=local, workers=2)
    remote_outcomes = grade([ASSIGNMENT], root=remote, cluster=dask_cluster.address)
    return types.SimpleNamespace(
        local=local,
        remote=remote,
        students=students,
        local_outcomes={o.student: o for o in local_outcomes},
        remote_outcomes=remote_outcomes,
    )


def test_the_cluster_scores_every_cell_as_local_grading_does(corpus):
    """Does every cell of every student score the same on the cluster (recorded in
    PostgreSQL) as on this machine (SQLite)?"""
    local, remote = _cells(corpus.local), _cells(corpus.remote)
    assert local and remote == local
    assert {o.student: (o.status, o.score) for o in corpus.remote_outcomes} == {
        s: (o.status, o.score) for s, o in corpus.local_outcomes.items()
    }


def test_export_and_report_read_postgresql_as_sqlite(corpus):
    """Do export, feedback and report give the same results from PostgreSQL as from SQLite?"""
    from autograder.feedback import feedback
    from autograder.report import report

    assert score_rows(corpus.remote) == score_rows(corpus.local)
    pages = {p.relative_to(corpus.remote) for p in feedback(root=corpus.remote)}
    assert pages == {p.relative_to(corpus.local) for p in feedback(root=corpus.local)}
    items = [report(root=root).items_csv.read_text() for root in (corpus.local, corpus.remote)]
    assert items[0] == items[1]


def test_the_summary_names_the_cluster(corpus):
    """Does the summary say which cluster graded, and how many workers took part?"""
    assert corpus.remote_outcomes.kernels.startswith("graded on the Dask cluster at tcp://")
    assert "2 workers took part" in corpus.remote_outcomes.kernels


HOSTILE = ("loops_forever", "fills_memory", "kills_its_parent", "reaches_the_warm_parent")


def test_hostile_submissions_on_the_cluster_cost_no_one_else(tmp_path, dask_cluster):
    """Do hostile submissions graded on the cluster earn what they deserve, and the honest
    students beside them their full scores?"""
    from tests.autograder.test_grade import load_scenario

    root = _course(tmp_path, "hostile")
    submissions = root / "submitted"
    scenarios = [load_scenario(name) for name in HOSTILE]
    context = types.SimpleNamespace(
        set_answer=set_answer, test_cells=None, nbformat=None, root=root,
        submissions=submissions, port=9,
    )  # fmt: skip
    for name, scenario in zip(HOSTILE, scenarios, strict=True):
        write_submission(submissions, name, ASSIGNMENT, scenario.build(solved(ASSIGNMENT), context))
    for index in range(2):
        write_submission(submissions, f"honest_{index}", ASSIGNMENT, solved(ASSIGNMENT))
    outcomes = {
        o.student: o
        for o in grade([ASSIGNMENT], root=root, cluster=dask_cluster.address, timeout=8)
    }
    for name, scenario in zip(HOSTILE, scenarios, strict=True):
        assert (outcomes[name].status, outcomes[name].score) == (
            scenario.EXPECTED["status"],
            scenario.EXPECTED["score"],
        ), outcomes[name]
    for index in range(2):
        assert (outcomes[f"honest_{index}"].status, outcomes[f"honest_{index}"].score) == (
            "graded",
            8.0,
        )


def _kill_a_busy_worker(cluster, ledger, times: int = 1):
    """Once ``ledger`` is written (grading is under way), SIGKILL a worker that is
    running a task, ``times`` times."""
    deadline = time.monotonic() + 300
    while not ledger.exists():
        assert time.monotonic() < deadline, "grading never got under way"
        time.sleep(0.05)
    with cluster.client() as client:
        for _ in range(times):
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                busy = [
                    worker
                    for worker, keys in client.processing().items()
                    if any(str(key).startswith("grade ") for key in keys)
                ]
                if busy:
                    break
                time.sleep(0.05)
            else:
                raise TimeoutError("no worker picked a task")
            pids = client.run(os.getpid, workers=busy[:1])
            os.kill(pids[busy[0]], signal.SIGKILL)
            # The nanny starts a new worker; wait until both are there again.
            deadline = time.monotonic() + 120
            while busy[0] in client.scheduler_info(n_workers=-1)["workers"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            client.wait_for_workers(cluster.workers, timeout=120)


def test_a_killed_worker_loses_nothing(tmp_path, dask_cluster):
    """Is every submission graded in full when a worker is SIGKILLed mid-run?"""
    root = _course(tmp_path, "killed")
    for index in range(6):
        write_submission(root / "submitted", f"s{index}", ASSIGNMENT, solved(ASSIGNMENT))
    ledger = root / "autograded" / "s0" / ASSIGNMENT / LEDGER
    killer = threading.Thread(target=_kill_a_busy_worker, args=(dask_cluster, ledger))
    killer.start()
    outcomes = grade([ASSIGNMENT], root=root, cluster=dask_cluster.address)
    killer.join()
    assert {o.student: (o.status, o.score) for o in outcomes} == {
        f"s{index}": ("graded", 8.0) for index in range(6)
    }
    assert {r["student_id"] for r in score_rows(root)} == {f"s{index}" for index in range(6)}


def test_a_submission_that_keeps_killing_workers_is_failed(tmp_path, dask_cluster):
    """Is a notebook whose every grading worker dies recorded failed, with how many times,
    and the rest of the class graded?"""
    root = _course(tmp_path, "killer")
    slow = solved(ASSIGNMENT)
    set_answer(
        slow,
        "likelihood_bernoulli",
        "import time\ntime.sleep(600)\ndef likelihood_bernoulli(x, theta):\n    return 0.5",
    )
    write_submission(root / "submitted", "killer", ASSIGNMENT, slow)
    write_submission(root / "submitted", "honest", ASSIGNMENT, solved(ASSIGNMENT))
    # The fixture's cluster gives a notebook up after two workers died running it.
    ledger = root / "autograded" / "honest" / ASSIGNMENT / LEDGER  # then only the killer runs
    killer = threading.Thread(target=_kill_a_busy_worker, args=(dask_cluster, ledger, 2))
    killer.start()
    outcomes = {
        o.student: o
        for o in grade([ASSIGNMENT], root=root, cluster=dask_cluster.address, timeout=900)
    }
    killer.join()
    assert outcomes["killer"].status == "failed"
    assert "killed its grading worker 2 times" in outcomes["killer"].reason
    assert (outcomes["honest"].status, outcomes["honest"].score) == ("graded", 8.0)


def test_a_worker_with_another_environment_is_refused(tmp_path, dask_cluster, monkeypatch):
    """Is a run refused before grading, in one line naming the worker and the difference,
    when a worker's libraries differ from the coordinator's?"""
    import autograder.cluster

    real = autograder.cluster.environment
    monkeypatch.setattr(
        autograder.cluster, "environment", lambda isolate=True: {**real(isolate), "numpy": "0.1"}
    )
    root = _course(tmp_path, "mismatch")
    write_submission(root / "submitted", "ann", ASSIGNMENT, solved(ASSIGNMENT))
    with pytest.raises(CourseError) as refused:
        grade([ASSIGNMENT], root=root, cluster=dask_cluster.address)
    message = str(refused.value)
    assert message.startswith("refusing the Dask worker tcp://127.0.0.1:")
    assert "numpy 0.1 here" in message and "\n" not in message
    assert not (root / "autograded").exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    """Does a cluster address nobody answers at give one line, not a traceback?"""
    root = _course(tmp_path, "nowhere")
    write_submission(root / "submitted", "ann", ASSIGNMENT, solved(ASSIGNMENT))
    with pytest.raises(CourseError, match=r"Dask scheduler at tcp://127\.0\.0\.1:9"):
        grade([ASSIGNMENT], root=root, cluster="tcp://127.0.0.1:9")
