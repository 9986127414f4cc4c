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

Without bwrap (macOS, or a machine without it) the kernel runs with the resource limits
only, and :func:`describe` says so, so the grader can print it in its summary.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

#: Kernels run as unprivileged user ids, one per concurrently running kernel: the
#: process-count limit is counted per user, so a fork bomb in one submission must not
#: starve the kernel of another. Each grading run draws its own block of ids at random
#: from this range, so two runs on one machine never share (or reap) each other's ids.
#: No account needs to exist for these ids.
UID_RANGE = (200_000, 2_000_000_000)
UID_BLOCK = 64


def uid_block(size: int) -> list[int]:
    """``size`` user ids for one grading run, from a randomly chosen block."""
    if size > UID_BLOCK:
        raise ValueError(f"at most {UID_BLOCK} kernels at once")
    blocks = (UID_RANGE[1] - UID_RANGE[0]) // UID_BLOCK
    first = UID_RANGE[0] + secrets.randbelow(blocks) * UID_BLOCK
    return list(range(first, first + size))


@dataclass(frozen=True)
class Limits:
    """Resource limits for one kernel."""

    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 600
    file_bytes: int = 64 * 1024**2
    processes: int = 512


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


def bubblewrap() -> str | None:
    """The path of a working ``bwrap``, or None."""
    return shutil.which("bwrap") if sys.platform.startswith("linux") else None


def describe(isolate: bool) -> str:
    """One line on what the sandbox does on this machine."""
    if isolate and bubblewrap():
        user = "as an unprivileged user per kernel, " if os.geteuid() == 0 else ""
        return f"kernels sandboxed with bubblewrap ({user}no network, private filesystem view)"
    return (
        "WARNING: bubblewrap not available, kernels run with resource limits only "
        "(network and filesystem NOT isolated)"
    )


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


def kernel_environment(sandbox: Sandbox) -> dict[str, str]:
    """Environment variables for the kernel: a private home, one BLAS thread, no colours."""
    home = "/tmp" if sandbox.isolate and bubblewrap() else str(sandbox.workdir / ".home")
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


def wrap_command(command: list[str], sandbox: Sandbox) -> list[str]:
    """Prefix a kernel command line with the sandbox and the limits."""
    environment = kernel_environment(sandbox)
    bwrap = bubblewrap() if sandbox.isolate else None
    if not bwrap:
        return (
            _prlimit(sandbox.limits)
            + ["env", *(f"{k}={v}" for k, v in environment.items())]
            + command
        )
    wrapped = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
    ]
    # Hide first, then bind back what the kernel needs: later mounts win.
    for path in sandbox.hide:
        if path.exists():
            wrapped += ["--tmpfs", str(path)]
    for path in sandbox.expose:
        if path.exists():
            wrapped += ["--ro-bind", str(path), str(path)]
    for path in (sandbox.workdir, sandbox.rundir):
        wrapped += ["--bind", str(path), str(path)]
    wrapped += [
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session", "--clearenv",
        "--chdir", str(sandbox.workdir),
    ]  # fmt: skip
    for key, value in environment.items():
        wrapped += ["--setenv", key, value]
    wrapped.append("--")
    if os.geteuid() == 0 and shutil.which("setpriv"):
        wrapped += [
            shutil.which("setpriv"), f"--reuid={sandbox.uid}", f"--regid={sandbox.uid}",
            "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all",
        ]  # fmt: skip
    return _prlimit(sandbox.limits) + wrapped + command


def user_processes(uid: int) -> list[int]:
    """The processes whose real user id is ``uid`` (empty where /proc is missing)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in entry.read_text().splitlines():
                if line.startswith("Uid:"):
                    if int(line.split()[1]) == uid:
                        found.append(int(entry.parent.name))
                    break
        except (OSError, ValueError):
            continue
    return found


def wait_for_user_processes(uid: int, *, seconds: float) -> None:
    """Kill what is left of a sandbox's processes and wait until they are gone."""
    if not sandbox_uses_uids():
        return
    deadline = time.monotonic() + seconds
    while (pids := user_processes(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def sandbox_uses_uids() -> bool:
    """True when kernels run under their own user ids (root with bubblewrap and setpriv)."""
    return os.geteuid() == 0 and bool(bubblewrap()) and bool(shutil.which("setpriv"))


def prepare(sandbox: Sandbox) -> None:
    """Create the sandbox folders, writable by the unprivileged kernel user."""
    for path in (sandbox.workdir, sandbox.rundir):
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and sandbox.isolate and bubblewrap():
            for folder, _, files in os.walk(path):
                os.chown(folder, sandbox.uid, sandbox.uid)
                for name in files:
                    os.chown(os.path.join(folder, name), sandbox.uid, sandbox.uid)


def kernel_manager(sandbox: Sandbox, kernel_name: str = "python3") -> AsyncKernelManager:
    """A kernel manager that starts its kernel inside ``sandbox`` over unix sockets.

    The kernel's own stdout and stderr (start-up messages, a crash's last words, not
    cell outputs, which travel over the sockets) go to ``kernel.log`` in the run folder.
    """

    class SandboxedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log = open(sandbox.rundir / "kernel.log", "ab")
            kw["stdout"] = kw["stderr"] = log
            try:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log.close()

        def format_kernel_cmd(self, extra_arguments=None):
            # The connection file was just written, readable by its owner only; the
            # kernel may run as another user.
            connection = Path(self.connection_file)
            if connection.exists() and os.geteuid() == 0 and sandbox.isolate and bubblewrap():
                os.chown(connection, sandbox.uid, sandbox.uid)
            return wrap_command(super().format_kernel_cmd(extra_arguments), sandbox)

    manager = SandboxedKernelManager(kernel_name=kernel_name)
    # A signal cannot reach the kernel through bubblewrap's process namespace; an
    # interrupt request on the control channel makes the kernel interrupt itself.
    manager.kernel_spec.interrupt_mode = "message"
    manager.transport = "ipc"
    manager.ip = str(sandbox.rundir / "kernel")
    manager.connection_file = str(sandbox.rundir / "kernel.json")
    return manager
