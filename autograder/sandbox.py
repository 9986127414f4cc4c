"""Run a notebook's kernel in a sandbox: no network, a private view of the disk, limits.

With bubblewrap (``bwrap``) available, each kernel runs in fresh Linux namespaces:

* no network (``--unshare-net``); the grader talks to the kernel over unix sockets
  (jupyter_client's ``ipc`` transport) in a folder bound into the sandbox, since TCP
  loopback does not cross network namespaces;
* its own process tree (``--unshare-pid``): it cannot see or signal the grader;
* the whole disk read-only, with the course root, the submissions and every other
  scratch folder hidden behind empty mounts; the Python environment and the ``course``
  package are bound back read-only, and the notebook's scratch working directory is the
  only writable place besides a private ``/tmp``;
* an unprivileged user id of its own when the grader runs as root (one per concurrent
  kernel), so the process-count limit applies to it alone and nothing root-owned can be
  written even where a mount would allow it;
* resource limits (``prlimit``): address space, CPU seconds, file size, processes.

When the grader runs as root, kernels are by default forked from a warm parent
(:class:`Zygote`, :mod:`autograder.zygote`) that runs in one such sandbox and has already
imported the course's libraries; each forked kernel takes its own user id, limits and
scratch folder before any of its code runs. Otherwise each kernel starts from scratch
in a sandbox of its own (:func:`wrap_command`).

Without bwrap (macOS, or a machine without it) the kernel runs with the resource limits,
under a small supervisor (:mod:`autograder.supervisor`) that keeps its signals away from
the grader, and :func:`describe` says what that protects and what not, so the grader can
print it in its summary.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

#: Kernels run as unprivileged user ids, a new one for every kernel: the process-count
#: limit is counted per user, so a fork bomb in one submission cannot starve another's
#: kernel, and an id is never used twice in a run, so whatever a kernel leaves behind can
#: never act as, or on, a later kernel. Each run starts at a random place in this range
#: and skips ids that have running processes (another run's kernels). No account needs
#: to exist for these ids.
UID_RANGE = (200_000, 2_000_000_000)
#: Ids one run may use: room for half a million notebooks (two kernels each).
UID_RUN = 2**20


def uid_sequence():
    """The user ids for one grading run, each used once, none with running processes."""
    blocks = (UID_RANGE[1] - UID_RANGE[0]) // UID_RUN
    first = UID_RANGE[0] + secrets.randbelow(blocks) * UID_RUN
    busy = {owner for _, owner in _processes()} if sandbox_uses_uids() else set()
    for uid in range(first, first + UID_RUN):
        if uid not in busy:
            yield uid
    raise RuntimeError(f"more than {UID_RUN} kernels in one run")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one kernel."""

    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 600
    file_bytes: int = 64 * 1024**2
    processes: int = 512

    @property
    def tmp_bytes(self) -> int:
        """The size of a kernel's private /tmp (a file system in memory)."""
        return min(self.memory_bytes // 4, 512 * 1024**2)


@dataclass(frozen=True)
class Sandbox:
    """Where one kernel runs and what it may see."""

    workdir: Path
    rundir: Path
    hide: tuple[Path, ...] = ()
    expose: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)
    isolate: bool = True
    uid: int = UID_RANGE[0]
    cgroup: Path | None = None  # the kernel's memory cgroup, where the machine has one


def bubblewrap() -> str | None:
    """The path of a working ``bwrap``, or None."""
    return shutil.which("bwrap") if sys.platform.startswith("linux") else None


def describe(isolate: bool, expose: tuple[Path, ...] = ()) -> str:
    """One line on what the sandbox does on this machine; without bubblewrap, a warning
    that says what still protects the grader and what does not (``expose``: what a
    kernel needs to read besides the Python environment)."""
    if isolate and bubblewrap():
        user = "as an unprivileged user per kernel, " if os.geteuid() == 0 else ""
        return f"kernels sandboxed with bubblewrap ({user}no network, private filesystem view)"
    why = "turned off" if bubblewrap() else "not available"
    if separate_user(isolate=False, expose=expose):
        return (
            f"WARNING: bubblewrap {why}: each kernel runs under a supervisor, in a session "
            "of its own, as an unprivileged user of its own, with resource limits, so it "
            "cannot signal the grader; NOT isolated: the network, and every file that "
            "user may read or write (the course's solutions included, if readable by all)"
        )
    if os.geteuid() == 0:
        hidden = _unreadable((*python_paths(), Path(sys.executable).resolve(), *expose))
        who = (
            f"it runs as root ({hidden} is closed to other users, so a kernel cannot "
            "run as a user of its own): it can signal any process by its id, os.kill(-1) "
            "included, and read and write anything"
        )
    else:
        who = (
            "it runs as you: it can signal your processes by their id, os.kill(-1) "
            "included, and read and write your files"
        )
    return (
        f"WARNING: bubblewrap {why}: each kernel runs under a supervisor, in a session of "
        "its own, with resource limits, so signalling its parent, process group or session "
        f"reaches no grader process; NOT protected: {who}; the network is open"
    )


@functools.cache
def _unreadable(paths: tuple[Path, ...]) -> Path | None:
    """The first folder or file on the way to one of ``paths`` that a user with no rights
    of its own cannot pass through or read, or None when it can reach and read them all."""
    for path in paths:
        path = Path(path).resolve()
        for folder in reversed(path.parents):
            try:
                if not folder.stat().st_mode & stat.S_IXOTH:
                    return folder
            except OSError:
                return folder
        try:
            mode = path.stat().st_mode
        except OSError:
            return path
        wanted = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
        if mode & wanted != wanted:
            return path
    return None


def separate_user(*, isolate: bool, expose: tuple[Path, ...] = ()) -> bool:
    """Whether each kernel runs under a user id of its own (:attr:`Sandbox.uid`): when
    the grader is root, with bubblewrap (``setpriv`` inside it) or, without it, where
    every user can run the grader's Python and read ``expose`` (the supervisor)."""
    if os.geteuid() != 0:
        return False
    if isolate and bubblewrap():
        return True
    interpreter = Path(sys.executable).resolve()
    return _unreadable((*python_paths(), interpreter, *map(Path, expose))) is None


def _prlimit(limits: Limits) -> list[str]:
    prlimit = shutil.which("prlimit")
    if not prlimit:
        return []
    return [
        prlimit,
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_bytes}",
        f"--nproc={limits.processes}",
        "--core=0",
        "--",
    ]


def kernel_environment(sandbox: Sandbox, home: str | None = None) -> dict[str, str]:
    """Environment variables for the kernel: a private home, one BLAS thread, no colours."""
    if home is None:
        # In the run folder, as for kernels forked warm: the same home gives the same
        # outputs (IPython shows paths under it as ~), and the notebook's folder stays
        # as the student left it.
        home = str(sandbox.rundir / "home")
    return {
        "HOME": home,
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NBGRADER_EXECUTION": "autograde",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
    }


def python_paths() -> tuple[Path, ...]:
    """What a kernel needs of this Python: its environment and the installation under it."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    return tuple(sorted(paths))


#: The system a kernel sees, read-only: programs and shared libraries, nothing else of
#: the disk. /usr/local and /usr/src are left out (a course copy could sit there); the
#: Python environment and the ``course`` package are bound in on their own.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_HIDDEN = ("/usr/local", "/usr/src")
#: What a kernel needs of /etc: the dynamic linker's cache, time zones, name lookups
#: (no network, but libraries ask), fonts and certificates.
ETC_PATHS = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/timezone", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts",
    "/etc/fonts", "/etc/ssl", "/etc/mime.types", "/etc/alternatives",
)  # fmt: skip


def _bwrap(
    bwrap: str,
    *,
    hide: tuple[Path, ...],
    expose: tuple[Path, ...],
    writable: tuple[Path, ...],
    chdir: Path,
    environment: dict[str, str],
) -> list[str]:
    """bubblewrap's options for a grading sandbox (see the module docstring).

    The view is an allow-list: an empty root, the system's programs and libraries, the
    exposed paths (the Python environment, the ``course`` package), a private /tmp and
    the writable folders. Folders bubblewrap creates on the way to a bound path are
    enterable (0755), so a Python installed under root's private home still runs.
    """
    wrapped = [bwrap]
    for path in map(Path, SYSTEM_PATHS):
        if path.is_symlink():  # merged /usr: /bin -> usr/bin
            wrapped += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            wrapped += ["--ro-bind", str(path), str(path)]
    wrapped += [
        option for path in SYSTEM_HIDDEN if Path(path).is_dir() for option in ("--tmpfs", path)
    ]
    # bubblewrap would make /etc private to root: every user must read what is bound in it.
    wrapped += ["--perms", "0755", "--dir", "/etc"]
    for path in map(Path, ETC_PATHS):
        if path.exists():
            wrapped += ["--ro-bind", str(path), str(path)]
    wrapped += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    # bubblewrap would make the folders on the way to a bound path private to root.
    bound = [p for p in (*expose, *writable) if p.exists()]
    on_the_way = {
        folder
        for path in bound
        for folder in path.parents
        if folder != Path("/")
        and str(folder) not in ("/tmp", *SYSTEM_PATHS)
        and not any(b == folder or b in folder.parents for b in bound)
    }
    for folder in sorted(on_the_way, key=lambda f: len(f.parts)):
        wrapped += ["--perms", "0755", "--dir", str(folder)]
    for path in expose:
        if path.exists():
            wrapped += ["--ro-bind", str(path), str(path)]
    for path in hide:  # inside an exposed tree (a course inside the environment, say)
        if path.exists() and any(path == p or p in path.parents for p in expose):
            wrapped += ["--tmpfs", str(path)]
    for path in writable:
        wrapped += ["--bind", str(path), str(path)]
    wrapped += [
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session", "--clearenv",
        "--chdir", str(chdir),
    ]  # fmt: skip
    for key, value in environment.items():
        wrapped += ["--setenv", key, value]
    return wrapped


def wrap_command(command: list[str], sandbox: Sandbox) -> list[str]:
    """Prefix a kernel command line with the sandbox and the limits."""
    environment = kernel_environment(sandbox)
    bwrap = bubblewrap() if sandbox.isolate else None
    if not bwrap:
        return (
            _join_cgroup(sandbox.cgroup)
            + _supervisor(sandbox)
            + ["env", *(f"{k}={v}" for k, v in environment.items())]
            + command
        )
    wrapped = _bwrap(
        bwrap,
        hide=sandbox.hide,
        expose=sandbox.expose,
        writable=(sandbox.workdir, sandbox.rundir),
        chdir=sandbox.workdir,
        environment=environment,
    )
    wrapped.append("--")
    if os.geteuid() == 0 and shutil.which("setpriv"):
        wrapped += [
            shutil.which("setpriv"), f"--reuid={sandbox.uid}", f"--regid={sandbox.uid}",
            "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all",
        ]  # fmt: skip
    return _join_cgroup(sandbox.cgroup) + _prlimit(sandbox.limits) + wrapped + command


SUPERVISOR = Path(__file__).with_name("supervisor.py")


def _supervisor(sandbox: Sandbox) -> list[str]:
    """A prefix that runs the command under :mod:`autograder.supervisor`: in a session of
    its own, with the limits, and under its own user id where :func:`separate_user`."""
    limits = sandbox.limits
    command = [sys.executable, "-I", "-S", str(SUPERVISOR)]
    if separate_user(isolate=sandbox.isolate, expose=sandbox.expose):
        command += ["--uid", str(sandbox.uid)]
    for name, value in (
        ("as", limits.memory_bytes),
        ("cpu", limits.cpu_seconds),
        ("fsize", limits.file_bytes),
        ("nproc", limits.processes),
        ("core", 0),
    ):
        command += ["--limit", f"{name}={value}"]
    return [*command, "--"]


def _join_cgroup(group: Path | None) -> list[str]:
    """A prefix that moves the command into the memory cgroup ``group`` before it runs."""
    if group is None:
        return []
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(group)]


def _processes():
    """(pid, real user id) of every process (none where /proc is missing)."""
    for entry in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in entry.read_text().splitlines():
                if line.startswith("Uid:"):
                    yield int(entry.parent.name), int(line.split()[1])
                    break
        except (OSError, ValueError):
            continue


def user_processes(uid: int) -> list[int]:
    """The processes whose real user id is ``uid`` (empty where /proc is missing)."""
    return [pid for pid, owner in _processes() if owner == uid]


def kill_user_processes(uid: int) -> None:
    """Send SIGKILL to every process of ``uid``."""
    for pid in user_processes(uid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def wait_for_user_processes(uid: int, *, seconds: float) -> None:
    """Kill what is left of a sandbox's processes and wait until they are gone."""
    if not sandbox_uses_uids():
        return
    deadline = time.monotonic() + seconds
    while user_processes(uid) and time.monotonic() < deadline:
        kill_user_processes(uid)
        time.sleep(0.05)


def sandbox_uses_uids() -> bool:
    """True when kernels run under their own user ids (root with bubblewrap and setpriv)."""
    return os.geteuid() == 0 and bool(bubblewrap()) and bool(shutil.which("setpriv"))


def prepare(sandbox: Sandbox) -> None:
    """Create the sandbox folders, writable by the unprivileged kernel user."""
    (sandbox.rundir / "home").mkdir(parents=True, exist_ok=True)
    for path in (sandbox.workdir, sandbox.rundir):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)  # private to its kernel (kernels forked warm share a mount view)
        if separate_user(isolate=sandbox.isolate, expose=sandbox.expose):
            for folder, _, files in os.walk(path):
                os.chown(folder, sandbox.uid, sandbox.uid)
                for name in files:
                    os.chown(os.path.join(folder, name), sandbox.uid, sandbox.uid)


def warm_kernels_available(isolate: bool) -> bool:
    """True when kernels can be forked from a warm parent: the sandbox hands each kernel
    its own user id (root with bubblewrap), which is what keeps forked kernels apart."""
    return isolate and sandbox_uses_uids()


class Zygote:
    """The grader's side of :mod:`autograder.zygote`, the warm parent kernels fork from.

    It runs in one bubblewrap sandbox (no network, its own process tree, the same
    allow-list view of the disk as a kernel's), with ``scratch`` (where each kernel's
    private folders are made) and the run's memory cgroups writable, and only the
    capabilities to change user ids, signal its children and make each kernel's
    namespaces. Every kernel it forks gets its own pid and mount namespaces, with only
    its own two folders of ``scratch`` and a private /tmp (:attr:`namespaces`, where the
    machine allows it). Its socket lives in a folder only root can enter, and it serves
    only root, so a kernel cannot ask it for anything.
    """

    SCRIPT = Path(__file__).with_name("zygote.py")

    def __init__(
        self,
        *,
        scratch: Path,
        hide: tuple[Path, ...],
        expose: tuple[Path, ...],
        cgroups: Path | None = None,
    ):
        self.failure = ""  # why it could not be started, once that has happened
        self.namespaces = False  # whether each kernel gets pid and mount namespaces
        self.cgroups = cgroups
        self.scratch = scratch
        self.hide = hide
        self.expose = expose
        self.home = scratch / "zygote"
        self.socket = self.home / "socket"
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def environment(self, home: str) -> dict[str, str]:
        return kernel_environment(Sandbox(workdir=self.home, rundir=self.home), home=home)

    def start(self, timeout: float = 120) -> None:
        """Start the warm parent (imports take a few seconds); idempotent."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                return
            self._close()
            shutil.rmtree(self.home, ignore_errors=True)
            self.home.mkdir(mode=0o700, parents=True)
            script = self.SCRIPT
            command = _bwrap(
                bubblewrap(),
                hide=self.hide,
                expose=(*self.expose, script),
                writable=(self.scratch, *([self.cgroups] if self.cgroups else [])),
                chdir=self.home,
                environment=self.environment(str(self.home)),
            )
            command += ["--cap-drop", "ALL"]
            for capability in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_ADMIN"):
                command += ["--cap-add", capability]
            command += ["--", sys.executable, str(script), str(self.socket)]
            with open(self.scratch / "zygote.log", "ab") as log:
                self.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
                )
            with selectors.DefaultSelector() as selector:
                selector.register(self.process.stdout, selectors.EVENT_READ)
                ready = selector.select(timeout)
            line = self.process.stdout.readline() if ready else b""
            self.namespaces = line.strip() == b"ready namespaces"
            if line.strip() not in (b"ready", b"ready namespaces"):
                self._close()
                last = (self.scratch / "zygote.log").read_text(errors="replace").strip()
                raise RuntimeError(
                    "the warm kernel parent did not start"
                    + (f": {last.splitlines()[-1]}" if last else "")
                )

    def ensure(self) -> bool:
        """Start the warm parent, or restart it if it died; False (for the rest of the
        run) once it has failed to start, so the grader starts kernels from scratch."""
        if self.failure:
            return False
        try:
            self.start()
            return True
        except (OSError, RuntimeError) as error:
            self.fail(error)
            return False

    def fail(self, error: Exception) -> None:
        """Give up on the warm parent for the rest of the run, remembering why."""
        self.failure = self.failure or (
            str(error).splitlines()[0] if str(error) else type(error).__name__
        )

    def call(self, request: dict) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(30)
            connection.connect(str(self.socket))
            connection.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(connection.makefile("r").readline() or "{}")
        if "error" in reply:
            raise RuntimeError(f"warm kernel parent: {reply['error']}")
        return reply

    def spawn(self, argv: list[str], sandbox: Sandbox) -> WarmKernel:
        """Fork a kernel running ``argv`` (an ipykernel command) inside ``sandbox``."""
        private = sandbox.rundir / "home"
        pid = self.call(
            {
                "op": "spawn",
                "argv": argv,
                "uid": sandbox.uid,
                "cwd": str(sandbox.workdir),
                "log": str(sandbox.rundir / "kernel.log"),
                "limits": asdict(sandbox.limits),
                "env": {**self.environment(str(private)), "TMPDIR": str(private / "tmp")},
                "namespaces": self.namespaces,
                "scratch": str(self.scratch),
                "keep": [str(sandbox.workdir), str(sandbox.rundir)],
                # The private /tmp would cover what the kernel needs from under /tmp (a
                # course and its environment checked out there): bound back, read-only.
                "show": [str(path) for path in self.expose if Path("/tmp") in path.parents],
                "cgroup": str(sandbox.cgroup) if sandbox.cgroup else None,
                "tmp_bytes": sandbox.limits.tmp_bytes,
            }
        )["pid"]
        return WarmKernel(self, pid, sandbox.uid)

    def close(self) -> None:
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.kill()
            self.process.wait()
            self.process.stdout.close()
            self.process = None


class WarmKernel:
    """A kernel forked by the :class:`Zygote`, with the part of ``subprocess.Popen``'s
    interface that jupyter_client's provisioner uses."""

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int, uid: int):
        self.zygote, self.pid, self.uid = zygote, pid, uid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.zygote.call({"op": "poll", "pid": self.pid})["exit"]
            except (OSError, RuntimeError, ValueError):
                self.returncode = -signal.SIGKILL  # the parent is gone, and its kernels
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if signum == signal.SIGKILL:
            self.kill()
            return
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self.zygote.call({"op": "signal", "pid": self.pid, "signal": int(signum)})

    def kill(self) -> None:
        """Kill the kernel and everything it started: its namespace's init, with which
        every process in the namespace dies, and every process of its user id."""
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self.zygote.call({"op": "kill", "pid": self.pid})
        kill_user_processes(self.uid)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _stopped_through_supervisor(process: subprocess.Popen) -> None:
    """Make ``process.kill()`` (``process`` is a kernel's supervisor) ask the supervisor
    to stop first: it kills the kernel, what the kernel started, and, for a kernel with
    a user id of its own, every process of that user, then exits. Killed outright if it
    has not within a few seconds."""
    kill = process.kill

    def stop() -> None:
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill()

    process.kill = stop


def kernel_manager(
    sandbox: Sandbox, kernel_name: str = "python3", zygote: Zygote | None = None
) -> AsyncKernelManager:
    """A kernel manager that starts its kernel inside ``sandbox`` over unix sockets.

    With a ``zygote`` the kernel is forked from the warm parent; otherwise it is a new
    process started through bubblewrap (or with limits only, without it). The kernel's
    own stdout and stderr (start-up messages, a crash's last words, not cell outputs,
    which travel over the sockets) go to ``kernel.log`` in the run folder.
    """

    class SandboxedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            if zygote is not None:
                try:
                    process = zygote.spawn(kernel_cmd, sandbox)
                except (OSError, RuntimeError, ValueError) as error:
                    zygote.fail(error)  # the grader's fault, not the student's: go cold
                else:
                    self.provisioner.process = process
                    self.provisioner.pid, self.provisioner.pgid = process.pid, None
                    self._reconcile_connection_info(self.provisioner.connection_info)
                    return
            kernel_cmd = wrap_command(kernel_cmd, sandbox)
            log = open(sandbox.rundir / "kernel.log", "ab")
            kw["stdout"] = kw["stderr"] = log
            try:
                await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log.close()
            if not (sandbox.isolate and bubblewrap()):
                _stopped_through_supervisor(self.provisioner.process)

        def format_kernel_cmd(self, extra_arguments=None):
            # The connection file was just written, readable by its owner only; the
            # kernel may run as another user.
            connection = Path(self.connection_file)
            own_user = separate_user(isolate=sandbox.isolate, expose=sandbox.expose)
            if connection.exists() and own_user:
                os.chown(connection, sandbox.uid, sandbox.uid)
            return super().format_kernel_cmd(extra_arguments)

    manager = SandboxedKernelManager(kernel_name=kernel_name)
    # A signal cannot reach the kernel through bubblewrap's process namespace; an
    # interrupt request on the control channel makes the kernel interrupt itself.
    manager.kernel_spec.interrupt_mode = "message"
    manager.transport = "ipc"
    manager.ip = str(sandbox.rundir / "kernel")
    manager.connection_file = str(sandbox.rundir / "kernel.json")
    return manager
