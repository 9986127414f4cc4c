"""Real services for the tests: a PostgreSQL server and a Dask cluster on this machine.

Both are the real programs: Debian's ``postgresql`` package (``.ci/run`` installs it),
started in a temporary folder with a unix socket only; ``dask scheduler`` and two
``dask worker`` processes from the venv, on 127.0.0.1. Every wait is for an event (the
server answering, the scheduler file appearing, the workers joining), bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PASSWORD = "s3cret-gradebook-pw"


def _missing(what: str):
    """A missing service fails in CI (which installs it) and skips elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed (.ci/run installs it)")
    pytest.skip(f"{what} is not installed")


def _wait(condition, seconds: float, what: str, process=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with status {process.returncode}")
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise TimeoutError(f"{what} within {seconds} s")


class Postgres:
    """A PostgreSQL server in a temporary folder, listening on a unix socket only."""

    def __init__(self):
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if not versions:
            _missing("PostgreSQL (Debian's postgresql package)")
        self.bin = versions[-1].parent
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-postgres-"))
        self.data = self.folder / "data"
        # PostgreSQL refuses to run as root: as root, run it as the postgres user.
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                _missing("the postgres user (Debian's postgresql package)")
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.folder.chmod(0o700 if self.user is None else 0o755)
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD + "\n")
        if self.user is not None:
            os.chown(password_file, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
            f"--pwfile={password_file}", "--no-sync", "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        password_file.unlink()
        self._run(
            "pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.folder / "log"),
            "-o", f"-c listen_addresses='' -k {self.folder} -c fsync=off "
            "-c max_connections=60",
            "start",
        )  # fmt: skip

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.bin / program), *arguments]
        if self.user is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.folder)

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql+psycopg://postgres:{password}@/{database}?host={self.folder}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    server = Postgres()
    yield server
    server.stop()


class DaskCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (each worker with its
    nanny, which starts it again when it dies)."""

    def __init__(self, workers: int = 2, allowed_failures: int = 3):
        if shutil.which("dask", path=str(BIN)) is None:
            _missing("Dask (pip install -e '.[cluster]')")
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-dask-"))
        self.scheduler_file = self.folder / "scheduler.json"
        self.environment = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
            # A worker the test kills is noticed at once, not after a heartbeat timeout.
            "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "60s",
        }
        self.processes: list[subprocess.Popen] = []
        self.scheduler = self._start(
            "scheduler", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
            "--port", "0", "--dashboard-address", "127.0.0.1:0",
        )  # fmt: skip
        self.address = _wait(self._address, 60, "the scheduler file", self.scheduler)
        for _ in range(workers):
            self._start(
                "worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
                "--nthreads", "1", "--memory-limit", "0", "--dashboard-address", "127.0.0.1:0",
            )  # fmt: skip
        self.workers = workers
        with self.client() as client:
            client.wait_for_workers(workers, timeout=120)

    def _start(self, *arguments: str) -> subprocess.Popen:
        log = open(self.folder / f"{arguments[0]}-{len(self.processes)}.log", "wb")
        process = subprocess.Popen(
            [str(BIN / "dask"), *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environment,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def _address(self) -> str | None:
        try:
            return json.loads(self.scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            return None

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dask_cluster():
    """Two workers; a notebook is given up after killing two of them."""
    cluster = DaskCluster(workers=2, allowed_failures=1)
    yield cluster
    cluster.stop()
